// Accounts (admins): list, create (with a first password the user must change), change role,
// disable, reset the password, delete.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api } from '../api/client'
import type { Account, Role } from '../api/types'
import { useAuth } from '../auth'
import { DataTable } from '../components/DataTable'
import { Dialog } from '../components/Dialog'
import { Badge, ErrorBox, errorText } from '../components/ui'
import { formatDateTime } from '../lib/format'

const ROLES: Role[] = ['viewer', 'operator', 'admin']

function NewAccount({ onClose }: { onClose: () => void }) {
  const qc = useQueryClient()
  const [form, setForm] = useState({ username: '', password: '', role: 'viewer' as Role, email: '' })
  const [errors, setErrors] = useState<Record<string, string>>({})
  const create = useMutation({
    mutationFn: () => api.post<Account>('/api/accounts', { username: form.username, password: form.password, role: form.role, ...(form.email ? { email: form.email } : {}) }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['accounts'] })
      onClose()
    },
    onError: (err) => setErrors({ [err instanceof ApiError && err.field ? err.field : 'form']: errorText(err) }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const errs: Record<string, string> = {}
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(form.username)) errs.username = "1-64 letters, digits, '.', '-', '_' or '@'"
    if ([...form.password].length < 10) errs.password = 'at least 10 characters'
    setErrors(errs)
    if (!Object.keys(errs).length) create.mutate()
  }
  const err = (k: string) => (errors[k] ? <span className="field-error">{errors[k]}</span> : null)
  return (
    <form className="stack" onSubmit={submit} noValidate>
      <label>
        User name
        <input value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} autoComplete="off" aria-invalid={!!errors.username} />
        {err('username')}
      </label>
      <label>
        First password (they must change it at first sign-in)
        <input type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} aria-invalid={!!errors.password} />
        {err('password')}
      </label>
      <label>
        Role
        <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        {err('role')}
      </label>
      <label>
        E-mail (optional)
        <input type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
        {err('email')}
      </label>
      {err('form')}
      <div className="row end">
        <button type="button" className="btn" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" className="btn primary" data-mutating disabled={create.isPending}>
          Create account
        </button>
      </div>
    </form>
  )
}

export function AccountsPage() {
  const { can, me } = useAuth()
  const qc = useQueryClient()
  const [creating, setCreating] = useState(false)
  const list = useQuery({ queryKey: ['accounts'], queryFn: ({ signal }) => api.get<Account[]>('/api/accounts', signal), enabled: can('admin') })
  const patch = useMutation({
    mutationFn: ({ username, body }: { username: string; body: Record<string, unknown> }) => api.patch<Account>(`/api/accounts/${encodeURIComponent(username)}`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['accounts'] }),
  })
  const remove = useMutation({
    mutationFn: (username: string) => api.del(`/api/accounts/${encodeURIComponent(username)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['accounts'] }),
  })
  if (!can('admin'))
    return (
      <div className="page">
        <h1>Accounts</h1>
        <p className="alert warn">Only admins manage accounts.</p>
      </div>
    )
  return (
    <div className="page">
      <div className="page-head">
        <h1>Accounts</h1>
        <button type="button" className="btn primary" data-mutating onClick={() => setCreating(true)}>
          New account
        </button>
      </div>
      <ErrorBox error={patch.error ?? remove.error} />
      <DataTable
        label="Accounts"
        filename="accounts"
        rows={list.data}
        loading={list.isPending}
        error={list.error}
        rowKey={(a) => a.username}
        initialSort={{ key: 'username', dir: 'asc' }}
        columns={[
          { key: 'username', header: 'User', value: (a) => a.username },
          {
            key: 'role',
            header: 'Role',
            value: (a) => a.role,
            render: (a) => (
              <select
                aria-label={`Role of ${a.username}`}
                value={a.role}
                disabled={a.username === me?.username}
                data-mutating
                onChange={(e) => patch.mutate({ username: a.username, body: { role: e.target.value } })}
              >
                {ROLES.map((r) => (
                  <option key={r}>{r}</option>
                ))}
              </select>
            ),
          },
          {
            key: 'state',
            header: 'State',
            value: (a) => (a.disabled ? 'disabled' : a.must_change_pw ? 'must change password' : 'active'),
            render: (a) => (a.disabled ? <Badge tone="bad">disabled</Badge> : a.must_change_pw ? <Badge tone="warn">must change password</Badge> : <Badge tone="ok">active</Badge>),
          },
          { key: 'mfa', header: 'MFA', value: (a) => (a.mfa_enabled ? 'on' : 'off'), wide: true },
          { key: 'email', header: 'E-mail', value: (a) => a.email ?? '', wide: true },
          { key: 'created_at', header: 'Created', value: (a) => a.created_at, render: (a) => formatDateTime(a.created_at), wide: true },
          {
            key: 'actions',
            header: 'Actions',
            sortable: false,
            noExport: true,
            value: () => '',
            render: (a) =>
              a.username === me?.username ? (
                <span className="muted">you</span>
              ) : (
                <span className="row nowrap">
                  <button type="button" className="btn small" data-mutating onClick={() => patch.mutate({ username: a.username, body: { disabled: !a.disabled } })}>
                    {a.disabled ? 'Enable' : 'Disable'}
                  </button>
                  <button
                    type="button"
                    className="btn small"
                    data-mutating
                    onClick={() => {
                      const pw = prompt(`New one-time password for ${a.username} (at least 10 characters):`)
                      if (pw) patch.mutate({ username: a.username, body: { password: pw } })
                    }}
                  >
                    Reset password
                  </button>
                  <button
                    type="button"
                    className="btn small danger"
                    data-mutating
                    onClick={() => {
                      if (confirm(`Delete account ${a.username}?`)) remove.mutate(a.username)
                    }}
                  >
                    Delete
                  </button>
                </span>
              ),
          },
        ]}
      />
      <Dialog open={creating} onClose={() => setCreating(false)} title="New account">
        <NewAccount onClose={() => setCreating(false)} />
      </Dialog>
    </div>
  )
}
