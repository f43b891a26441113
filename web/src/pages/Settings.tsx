// Server settings (KV server_settings): every setting with its stored value and the value in
// force. Everyone signed in reads them; admins change one at a time (empty = unset, back to the
// backend's own value). The backend checks the range and names the setting on a bad value.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { api } from '../api/client'
import { useAuth } from '../auth'
import { Card, ErrorBox, errorText } from '../components/ui'
import { settingValue, type SettingRow, type SettingsView } from '../lib/settings'

function SettingForm({ row, canEdit }: { row: SettingRow; canEdit: boolean }) {
  const qc = useQueryClient()
  const [text, setText] = useState(row.value === null ? '' : String(row.value))
  const [error, setError] = useState('')
  const save = useMutation({
    mutationFn: (value: number | null) => api.put<SettingsView>('/api/settings', { [row.key]: value }),
    onSuccess: (view) => {
      setError('')
      qc.setQueryData(['settings'], view)
    },
    onError: (err) => setError(errorText(err)),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const parsed = settingValue(row, text)
    if ('error' in parsed) setError(parsed.error)
    else save.mutate(parsed.value)
  }
  return (
    <tr data-testid={`setting-${row.key}`}>
      <td>
        <code>{row.key}</code>
        <div className="muted">{row.help}</div>
      </td>
      <td>{row.effective ?? <span className="muted">off</span>}</td>
      <td>
        {canEdit ? (
          <form className="row" onSubmit={submit}>
            <input
              aria-label={row.key}
              inputMode="numeric"
              value={text}
              placeholder={`unset (${row.min}–${row.max})`}
              onChange={(e) => setText(e.target.value)}
              aria-invalid={!!error}
            />
            <button type="submit" className="btn" data-mutating disabled={save.isPending}>
              Save
            </button>
            {error && <span className="field-error">{error}</span>}
          </form>
        ) : (
          (row.value ?? <span className="muted">unset</span>)
        )}
      </td>
    </tr>
  )
}

export function SettingsPage() {
  const { can } = useAuth()
  const q = useQuery({ queryKey: ['settings'], queryFn: ({ signal }) => api.get<SettingsView>('/api/settings', signal) })
  return (
    <div className="page">
      <h1>Server settings</h1>
      <ErrorBox error={q.error} />
      {q.data && (
        <Card title="Settings">
          <table className="config-form" aria-label="Server settings">
            <thead>
              <tr>
                <th>Setting</th>
                <th>In force</th>
                <th>Stored value{can('admin') ? ' (empty: unset)' : ''}</th>
              </tr>
            </thead>
            <tbody>
              {q.data.settings.map((row) => (
                <SettingForm key={`${row.key}:${row.value}`} row={row} canEdit={can('admin')} />
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </div>
  )
}
