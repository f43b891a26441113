// The fleet freeze: while active the scheduler fires no schedule and holds due rollout waves
// until the thaw; manual runs still go out (the Run dialog asks first). A stored freeze that
// does not decode counts as frozen (GET answers freeze_unreadable); lifting replaces it.
// Operators set or lift it.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api } from '../api/client'
import type { FreezeStatus } from '../api/types'
import { useAuth } from '../auth'
import { Badge, Card, ErrorBox, KeyValues, errorText } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'

export function FreezePage() {
  const { can } = useAuth()
  const qc = useQueryClient()
  const q = useQuery({ queryKey: ['freeze'], queryFn: ({ signal }) => api.get<FreezeStatus>('/api/freeze', signal), retry: false })
  const [from, setFrom] = useState('')
  const [until, setUntil] = useState('')
  const [reason, setReason] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const done = () => void qc.invalidateQueries({ queryKey: ['freeze'] })
  const set = useMutation({
    mutationFn: () =>
      api.put<FreezeStatus>('/api/freeze', {
        ...(from ? { from: new Date(from).toISOString() } : {}),
        ...(until ? { until: new Date(until).toISOString() } : {}),
        ...(reason ? { reason } : {}),
      }),
    onSuccess: done,
    onError: (err) => setErrors({ [err instanceof ApiError && err.field ? err.field : 'form']: errorText(err) }),
  })
  const lift = useMutation({ mutationFn: () => api.del('/api/freeze'), onSuccess: done })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const errs: Record<string, string> = {}
    if (from && until && new Date(from) >= new Date(until)) errs.until = 'must be after from'
    setErrors(errs)
    if (!Object.keys(errs).length) set.mutate()
  }
  const f = q.data?.freeze
  const unreadable = q.error instanceof ApiError && q.error.code === 'freeze_unreadable'
  const err = (k: string) => (errors[k] ? <span className="field-error">{errors[k]}</span> : null)
  return (
    <div className="page">
      <h1>Fleet freeze</h1>
      <ErrorBox error={q.error ?? lift.error} />
      {unreadable && can('operator') && (
        <button type="button" className="btn" data-mutating onClick={() => lift.mutate()} disabled={lift.isPending}>
          Lift the unreadable freeze
        </button>
      )}
      {q.data && (
        <Card title={q.data.frozen ? 'The fleet is frozen' : 'The fleet is not frozen'} actions={q.data.frozen ? <Badge tone="bad">frozen</Badge> : <Badge tone="ok">running normally</Badge>}>
          {f ? (
            <KeyValues
              items={[
                ['From', f.from ? formatDateTime(f.from) : 'when set'],
                ['Until', f.until ? `${formatDateTime(f.until)} (${formatRelative(f.until)})` : 'until lifted'],
                ['Reason', f.reason ?? '—'],
                ['Set by', `${f.set_by ?? '—'}, ${formatRelative(f.set_at)}`],
              ]}
            />
          ) : (
            <p className="muted">No freeze is set.</p>
          )}
          {f && can('operator') && (
            <button type="button" className="btn" data-mutating onClick={() => lift.mutate()} disabled={lift.isPending}>
              Lift the freeze
            </button>
          )}
        </Card>
      )}
      {can('operator') && q.data && (
        <Card title="Set a freeze">
          <form className="stack" onSubmit={submit}>
            <div className="grid two">
              <label>
                From (empty: now)
                <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
                {err('from')}
              </label>
              <label>
                Until (empty: until lifted)
                <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} aria-invalid={!!errors.until} />
                {err('until')}
              </label>
            </div>
            <label>
              Reason
              <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. quarter-end close" />
              {err('reason')}
            </label>
            {err('form')}
            <div>
              <button type="submit" className="btn danger" data-mutating disabled={set.isPending}>
                Freeze the fleet
              </button>
            </div>
          </form>
        </Card>
      )}
    </div>
  )
}
