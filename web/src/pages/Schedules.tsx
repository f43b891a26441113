// Schedules: the list with each one's next fire, and (operators) enable/disable. A schedule
// is written and edited as YAML like a job.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link } from 'react-router'
import { ApiError, api } from '../api/client'
import type { ScheduleSummary } from '../api/types'
import { useAuth } from '../auth'
import { DataTable } from '../components/DataTable'
import { Badge, Card, ErrorBox, NotAvailable } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'

export function SchedulesPage() {
  const { can } = useAuth()
  const qc = useQueryClient()
  const q = useQuery({ queryKey: ['schedules'], queryFn: ({ signal }) => api.get<ScheduleSummary[]>('/api/schedules', signal), retry: false })
  const toggle = useMutation({
    mutationFn: (s: ScheduleSummary) => api.post(`/api/schedules/${encodeURIComponent(s.id)}/${s.enabled ? 'disable' : 'enable'}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['schedules'] }),
  })
  if (q.error instanceof ApiError && q.error.routeMissing)
    return (
      <div className="page">
        <h1>Schedules</h1>
        <Card title="Schedules">
          <NotAvailable />
        </Card>
      </div>
    )
  return (
    <div className="page">
      <div className="page-head">
        <h1>Schedules</h1>
        {can('operator') && (
          <Link className="btn primary" to="/schedules/new" data-mutating>
            New schedule
          </Link>
        )}
      </div>
      <p className="muted">Jobs on a calendar or cron, once or again per machine (per_pc) or per target, with waves, windows and jitter.</p>
      <ErrorBox error={toggle.error} />
      <DataTable
        label="Schedules"
        filename="schedules"
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(s) => s.id}
        initialSort={{ key: 'next_fire', dir: 'asc' }}
        empty="No schedules yet."
        columns={[
          { key: 'id', header: 'Schedule', value: (s) => s.id, render: (s) => <Link to={`/schedules/${encodeURIComponent(s.id)}`}>{s.id}</Link> },
          { key: 'job_id', header: 'Job', value: (s) => s.job_id, render: (s) => <Link to={`/jobs/${encodeURIComponent(s.job_id)}`}>{s.job_id}</Link> },
          { key: 'when', header: 'When', value: (s) => s.when, render: (s) => <code>{s.when}</code> },
          { key: 'enabled', header: 'State', value: (s) => (s.enabled ? 'enabled' : 'disabled'), render: (s) => <Badge tone={s.enabled ? 'ok' : 'muted'}>{s.enabled ? 'enabled' : 'disabled'}</Badge> },
          {
            key: 'next_fire',
            header: 'Next fire',
            value: (s) => s.next_fire ?? null,
            render: (s) => (s.next_fire ? <span title={formatDateTime(s.next_fire)}>{formatRelative(s.next_fire)}</span> : <span className="muted">—</span>),
          },
          ...(can('operator')
            ? [
                {
                  key: 'actions',
                  header: 'Actions',
                  sortable: false,
                  noExport: true,
                  value: () => '',
                  render: (s: ScheduleSummary) => (
                    <button type="button" className="btn small" data-mutating onClick={() => toggle.mutate(s)} disabled={toggle.isPending}>
                      {s.enabled ? 'Disable' : 'Enable'}
                    </button>
                  ),
                },
              ]
            : []),
        ]}
      />
    </div>
  )
}
