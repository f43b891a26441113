// Derived groups (GET/POST/DELETE /api/group-defs): groups whose members are the machines
// matching a SQL condition over the inventory, re-evaluated by the backend. Everyone sees each
// with its members now (or why its condition fails); admins define and delete them, and the
// backend names `where` when it refuses a condition.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api } from '../api/client'
import { useAuth } from '../auth'
import { Card, ErrorBox, errorText } from './ui'

interface DerivedGroup {
  name: string
  where: string
  created_by: string | null
  updated_at: string
  members: string[]
  error: string | null
}

const EXAMPLE = "EXISTS (SELECT 1 FROM inv_apps a WHERE a.pc_id = machine.pc_id AND a.name = 'Firefox')"

export function DerivedGroups() {
  const { can } = useAuth()
  const qc = useQueryClient()
  const q = useQuery({ queryKey: ['group-defs'], queryFn: ({ signal }) => api.get<DerivedGroup[]>('/api/group-defs', signal), retry: false })
  const [name, setName] = useState('')
  const [where, setWhere] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const done = () => {
    void qc.invalidateQueries({ queryKey: ['group-defs'] })
    void qc.invalidateQueries({ queryKey: ['groups'] })
  }
  const define = useMutation({
    mutationFn: () => api.post<DerivedGroup>('/api/group-defs', { name: name.trim(), where: where.trim() }),
    onSuccess: () => {
      setName('')
      setWhere('')
      setErrors({})
      done()
    },
    onError: (err) => setErrors({ [err instanceof ApiError && err.field ? err.field : 'form']: errorText(err) }),
  })
  const remove = useMutation({ mutationFn: (group: string) => api.del(`/api/group-defs/${encodeURIComponent(group)}`), onSuccess: done })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    define.mutate()
  }
  const err = (k: string) => (errors[k] ? <span className="field-error">{errors[k]}</span> : null)
  return (
    <Card title="Derived groups">
      <p className="muted">Members are the machines whose inventory meets the condition; the backend re-evaluates it when inventory changes.</p>
      <ErrorBox error={q.error ?? remove.error} />
      {q.data && !q.data.length && <p className="muted">No derived groups.</p>}
      {q.data?.map((g) => (
        <div key={g.name} className="stack" data-testid={`derived-${g.name}`}>
          <div className="row">
            <strong>{g.name}</strong>
            <span className="muted">{g.error ? `condition fails: ${g.error}` : `${g.members.length} machine(s)`}</span>
            {can('admin') && (
              <button type="button" className="btn ghost" data-mutating onClick={() => remove.mutate(g.name)} disabled={remove.isPending}>
                Delete
              </button>
            )}
          </div>
          <code>{g.where}</code>
          {g.members.length > 0 && <div className="muted">{g.members.slice(0, 50).join(', ')}{g.members.length > 50 ? ', …' : ''}</div>}
        </div>
      ))}
      {can('admin') && (
        <form className="stack" onSubmit={submit}>
          <label>
            Group name
            <input value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!errors.name} />
            {err('name')}
          </label>
          <label>
            Condition (<code>machine.pc_id</code> names the machine)
            <textarea rows={3} value={where} placeholder={EXAMPLE} onChange={(e) => setWhere(e.target.value)} aria-invalid={!!errors.where} />
            {err('where')}
          </label>
          {err('form')}
          <div>
            <button type="submit" className="btn" data-mutating disabled={define.isPending || !name.trim() || !where.trim()}>
              Define
            </button>
          </div>
        </form>
      )}
    </Card>
  )
}
