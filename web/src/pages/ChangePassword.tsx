// Changing the password: forced after the first sign-in with a one-time password (the API
// refuses everything else with `password_change_required` until then), or by choice.

import { useState, type FormEvent } from 'react'
import { Navigate, useNavigate } from 'react-router'
import { ApiError, api } from '../api/client'
import { useAuth } from '../auth'
import { errorText } from '../components/ui'

export function ChangePasswordForm({ onDone }: { onDone: () => void }) {
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [confirm, setConfirm] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const local: Record<string, string> = {}
    if ([...next].length < 10) local.new_password = 'at least 10 characters'
    if (next !== confirm) local.confirm = 'the two new passwords differ'
    setErrors(local)
    if (Object.keys(local).length) return
    setBusy(true)
    try {
      await api.post('/api/auth/change-password', { current_password: current, new_password: next })
      onDone()
    } catch (err) {
      if (err instanceof ApiError && err.field === 'new_password') setErrors({ new_password: err.message })
      else if (err instanceof ApiError && err.code === 'invalid_credentials') setErrors({ current_password: err.message })
      else setErrors({ form: errorText(err) })
    } finally {
      setBusy(false)
    }
  }

  const fieldError = (name: string) =>
    errors[name] ? (
      <span className="field-error" id={`${name}-err`}>
        {errors[name]}
      </span>
    ) : null

  return (
    <form onSubmit={submit} className="stack" noValidate>
      <label>
        Current password
        <input type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} aria-invalid={!!errors.current_password} aria-describedby="current_password-err" />
        {fieldError('current_password')}
      </label>
      <label>
        New password
        <input type="password" autoComplete="new-password" required minLength={10} value={next} onChange={(e) => setNext(e.target.value)} aria-invalid={!!errors.new_password} aria-describedby="new_password-err" />
        {fieldError('new_password')}
      </label>
      <label>
        New password again
        <input type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} aria-invalid={!!errors.confirm} aria-describedby="confirm-err" />
        {fieldError('confirm')}
      </label>
      {errors.form && (
        <p className="alert error" role="alert">
          {errors.form}
        </p>
      )}
      <button type="submit" className="btn primary" disabled={busy}>
        {busy ? 'Saving…' : 'Change password'}
      </button>
    </form>
  )
}

export function ChangePasswordPage() {
  const { token, me, refreshMe, logout } = useAuth()
  const navigate = useNavigate()
  if (!token) return <Navigate to="/login" replace />
  return (
    <div className="center-page">
      <div className="auth-card">
        <h1>Choose a new password</h1>
        {me?.must_change_pw ? (
          <p className="alert info">You signed in with a one-time password. Choose your own before going on.</p>
        ) : (
          <p className="muted">At least 10 characters.</p>
        )}
        <ChangePasswordForm
          onDone={async () => {
            await refreshMe()
            navigate('/', { replace: true })
          }}
        />
        <button type="button" className="btn ghost" onClick={() => void logout()}>
          Sign out
        </button>
      </div>
    </div>
  )
}
