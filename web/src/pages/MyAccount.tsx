// The signed-in user's own settings: password, and MFA enrolment with an authenticator app
// (its one-time recovery codes are shown once, when turned on or made anew).

import { useState, type FormEvent } from 'react'
import { api } from '../api/client'
import type { MfaInit, MfaRecoveryCodes } from '../api/types'
import { useAuth } from '../auth'
import { Card, errorText, KeyValues } from '../components/ui'
import { ChangePasswordForm } from './ChangePassword'

function Mfa() {
  const { me, refreshMe } = useAuth()
  const [init, setInit] = useState<MfaInit | null>(null)
  const [code, setCode] = useState('')
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null)
  const [codes, setCodes] = useState<string[]>([])
  const act = async (e: FormEvent, fn: () => Promise<unknown>, ok: string) => {
    e.preventDefault()
    setMsg(null)
    try {
      const answer = await fn()
      setCodes((answer as MfaRecoveryCodes | null)?.recovery_codes ?? [])
      setMsg({ ok: true, text: ok })
      setInit(null)
      setCode('')
      await refreshMe()
    } catch (err) {
      setMsg({ ok: false, text: errorText(err) })
    }
  }
  return (
    <div className="stack">
      <p>
        Two-factor sign-in is <strong>{me?.mfa_enabled ? 'on' : 'off'}</strong>.
      </p>
      {!me?.mfa_enabled && !init && (
        <button type="button" className="btn" onClick={async () => setInit(await api.post<MfaInit>('/api/auth/mfa/init'))}>
          Set up an authenticator app
        </button>
      )}
      {init && (
        <form className="stack" onSubmit={(e) => act(e, () => api.post('/api/auth/mfa/verify', { code }), 'Two-factor sign-in is on.')}>
          <p>Add this secret to your authenticator app (or open the link on your phone), then enter the code it shows.</p>
          <KeyValues
            items={[
              ['Secret', <code key="secret" className="break">{init.secret}</code>],
              ['Link', <a key="link" href={init.otpauth_url}>otpauth link</a>],
            ]}
          />
          <label>
            Code
            <input inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={code} onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))} />
          </label>
          <button type="submit" className="btn primary">
            Turn on
          </button>
        </form>
      )}
      {codes.length > 0 && (
        <div className="alert warn" data-testid="recovery-codes">
          <p>
            <strong>Recovery codes</strong>: each signs you in once in place of an app code. Keep them somewhere safe; they are not shown again.
          </p>
          <pre>{codes.join('\n')}</pre>
        </div>
      )}
      {me?.mfa_enabled && (
        <form className="stack" onSubmit={(e) => act(e, () => api.post('/api/auth/mfa/disable', { code }), 'Two-factor sign-in is off.')}>
          <label>
            Current code (to turn it off, or for new recovery codes)
            <input inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={code} onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))} />
          </label>
          <div className="row">
            <button type="submit" className="btn danger">
              Turn off
            </button>{' '}
            <button
              type="button"
              className="btn"
              onClick={(e) => act(e, () => api.post('/api/auth/mfa/recovery-codes', { code }), 'New recovery codes made; the old ones no longer work.')}
            >
              New recovery codes
            </button>
          </div>
        </form>
      )}
      {msg && (
        <p className={`alert ${msg.ok ? 'ok' : 'error'}`} role="status">
          {msg.text}
        </p>
      )}
    </div>
  )
}

export function MyAccountPage() {
  const { me } = useAuth()
  const [changed, setChanged] = useState(false)
  return (
    <div className="page">
      <h1>My account</h1>
      <div className="grid two">
        <Card title="Who am I">
          <KeyValues
            items={[
              ['User name', me?.username],
              ['Role', me?.role],
              ['E-mail', me?.email ?? '—'],
            ]}
          />
        </Card>
        <Card title="Two-factor sign-in">
          <Mfa />
        </Card>
        <Card title="Password">
          {changed ? <p className="alert ok">Password changed.</p> : <ChangePasswordForm onDone={() => setChanged(true)} />}
        </Card>
      </div>
    </div>
  )
}
