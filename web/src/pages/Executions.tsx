// Activity: every execution, newest first, with live progress (the SSE stream invalidates
// this list as results arrive), and the requests awaiting a second operator's approval.

import { useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { api } from '../api/client'
import type { Approval, ExecutionSummary, Page } from '../api/types'
import { DataTable } from '../components/DataTable'
import { Progress } from '../components/Progress'
import { ExecutionBadge } from '../components/Outcome'
import { formatDateTime, formatRelative } from '../lib/format'
import { countsOf, describeCounts, jobLabel, targetsText } from '../lib/outcome'

const WINDOW = 500

export function ExecutionsPage() {
  const list = useQuery({ queryKey: ['executions', 'list'], queryFn: ({ signal }) => api.get<Page<ExecutionSummary>>(`/api/executions?limit=${WINDOW}`, signal) })
  const awaiting = useQuery({ queryKey: ['executions', 'approvals'], queryFn: ({ signal }) => api.get<Approval[]>('/api/approvals', signal) })
  const total = list.data?.total ?? 0
  return (
    <div className="page">
      <h1>Activity</h1>
      {awaiting.data && awaiting.data.length > 0 && (
        <div className="alert warn" data-testid="awaiting-approval">
          <strong>{awaiting.data.length} awaiting approval</strong> (nothing is sent until another operator approves):{' '}
          {awaiting.data.map((a, i) => (
            <span key={a.exec_id}>
              {i > 0 && ', '}
              <Link to={`/executions/${encodeURIComponent(a.exec_id)}`}>{`${a.job_id} by ${a.requested_by}`}</Link>
            </span>
          ))}
        </div>
      )}
      {total > WINDOW && (
        <p className="muted">
          Showing the newest {WINDOW} of {total} executions.
        </p>
      )}
      <DataTable
        label="Executions"
        filename="executions"
        rows={list.data?.items}
        loading={list.isPending}
        error={list.error}
        rowKey={(e) => e.exec_id}
        initialSort={{ key: 'initiated_at', dir: 'desc' }}
        empty="Nothing has been run yet."
        columns={[
          { key: 'job_id', header: 'Job', value: (e) => jobLabel(e), render: (e) => <Link to={`/executions/${encodeURIComponent(e.exec_id)}`}>{jobLabel(e)}</Link> },
          { key: 'targets', header: 'Target', value: (e) => targetsText(e), wide: true },
          { key: 'status', header: 'Status', value: (e) => e.status, render: (e) => <ExecutionBadge e={e} /> },
          {
            key: 'progress',
            header: 'Progress',
            value: (e) => (e.target_count ? (e.success_count + e.failure_count + e.skipped_count) / e.target_count : 0),
            render: (e) => <Progress e={e} />,
          },
          { key: 'outcomes', header: 'Outcome', value: (e) => describeCounts(countsOf(e)), wide: true },
          { key: 'initiated_by', header: 'By', value: (e) => e.initiated_by, wide: true },
          { key: 'initiated_at', header: 'Started', value: (e) => e.initiated_at, render: (e) => <span title={formatDateTime(e.initiated_at)}>{formatRelative(e.initiated_at)}</span> },
          { key: 'version', header: 'Version', value: (e) => e.version, wide: true },
        ]}
      />
    </div>
  )
}
