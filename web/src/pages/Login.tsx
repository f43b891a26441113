// Sign-in: user name and password, then the authenticator code when the account has MFA.

import { useState, type FormEvent } from 'react'
import { Navigate, useLocation, useNavigate } from 'react-router'
import { ApiError } from '../api/client'
import { useAuth } from '../auth'
import { errorText } from '../components/ui'
import { useTheme } from '../theme'

export function LoginPage() {
  const { login, token, me } = useAuth()
  const navigate = useNavigate()
  const location = useLocation()
  const state = (location.state ?? {}) as { from?: string; expired?: boolean }
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [totp, setTotp] = useState('')
  const [needTotp, setNeedTotp] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const { theme, toggle } = useTheme()

  if (token && me && !busy) return <Navigate to={me.must_change_pw ? '/change-password' : (state.from ?? '/')} replace />

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    setBusy(true)
    try {
      const resp = await login(username, password, needTotp ? totp : undefined)
      navigate(resp.must_change_pw ? '/change-password' : (state.from ?? '/'), { replace: true })
    } catch (err) {
      if (err instanceof ApiError && err.code === 'totp_required') {
        setNeedTotp(true)
        setError(null)
      } else {
        setError(errorText(err))
        if (err instanceof ApiError && err.code === 'invalid_totp') setTotp('')
      }
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className="center-page">
      <form className="auth-card" onSubmit={submit} aria-labelledby="login-title">
        <div className="auth-head">
          <h1 id="login-title">
            <span className="logo" aria-hidden="true">
              ◆
            </span>{' '}
            kanade
          </h1>
          <button type="button" className="btn ghost" onClick={toggle} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
        {state.expired && !error && <p className="alert info">Your session ended; sign in again.</p>}
        <label>
          User name
          <input name="username" autoComplete="username" required autoFocus value={username} onChange={(e) => setUsername(e.target.value)} disabled={needTotp} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} disabled={needTotp} />
        </label>
        {needTotp && (
          <label>
            Authenticator code
            <input
              name="totp"
              autoComplete="one-time-code"
              pattern="[0-9]{6}|[A-Za-z0-9 \-]{16,19}"
              maxLength={19}
              required
              autoFocus
              value={totp}
              onChange={(e) => setTotp(e.target.value.replace(/[^A-Za-z0-9 -]/g, ''))}
              aria-describedby="totp-help"
            />
            <span id="totp-help" className="hint muted">
              Enter the 6-digit code from your authenticator app, or one of your recovery codes.
            </span>
          </label>
        )}
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Signing in…' : needTotp ? 'Verify' : 'Sign in'}
        </button>
        {needTotp && (
          <button
            type="button"
            className="btn ghost"
            onClick={() => {
              setNeedTotp(false)
              setTotp('')
            }}
          >
            Use another account
          </button>
        )}
      </form>
    </div>
  )
}
