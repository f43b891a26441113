// One execution: who fired what when, progress, and every machine's result (exit code, why
// it was skipped, how long it took, a link to its output). Updates live. A job with
// `require_approval` shows its request with Approve / Reject first.

import { useMutation, useQuery } from '@tanstack/react-query'
import type { ReactNode } from 'react'
import { Link, useParams } from 'react-router'
import { api } from '../api/client'
import type { ExecutionDetail, RolloutProgress } from '../api/types'
import { useAuth } from '../auth'
import { ApprovalCard } from '../components/ApprovalCard'
import { DataTable } from '../components/DataTable'
import { LiveOutput } from '../components/LiveOutput'
import { Progress } from '../components/Progress'
import { ExecutionBadge, ResultOutcome } from '../components/Outcome'
import { Badge, Card, ErrorBox, ExitBadge, KeyValues } from '../components/ui'
import { between, formatDateTime, formatDuration, formatRelative } from '../lib/format'
import { ADHOC_JOB_ID, countsOf, describeCounts, jobLabel, resultNote, targetsText } from '../lib/outcome'

export function ExecutionDetailPage() {
  const { id = '' } = useParams()
  const { can } = useAuth()
  const q = useQuery({
    queryKey: ['execution', id],
    queryFn: ({ signal }) => api.get<ExecutionDetail>(`/api/executions/${encodeURIComponent(id)}`, signal),
    // Live events refresh it; this is the fallback if the stream is down.
    refetchInterval: (query) => (query.state.data && ['pending', 'running', 'awaiting_approval'].includes(query.state.data.status) ? 30_000 : false),
  })
  const rollout = useQuery({
    queryKey: ['execution', id, 'rollout'],
    queryFn: ({ signal }) => api.get<RolloutProgress>(`/api/executions/${encodeURIComponent(id)}/rollout`, signal),
    retry: false,
    // Only a wave rollout has one: no 404 probe for a plain run.
    enabled: q.data?.rollout === true,
    refetchInterval: (query) => (query.state.data?.status === 'running' ? 10_000 : false),
  })
  const kill = useMutation({ mutationFn: () => api.post(`/api/executions/${encodeURIComponent(id)}/kill`) })
  const e = q.data
  const waiting = e ? Math.max(0, e.target_count - e.results.filter((r) => r.exit_code !== null).length) : 0
  const waitingFor = e?.waiting_for ?? []
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          {e ? jobLabel(e) : 'Execution'} {e && <ExecutionBadge e={e} />}
        </h1>
        {e && can('operator') && ['pending', 'running'].includes(e.status) && (
          <button
            type="button"
            className="btn danger"
            data-mutating
            onClick={() => {
              if (confirm('Kill every run of this execution still in progress?')) kill.mutate()
            }}
          >
            Kill
          </button>
        )}
      </div>
      <ErrorBox error={q.error ?? kill.error} />
      {kill.isSuccess && <p className="alert ok">Kill sent: running machines stop and report exit -1.</p>}
      {e && (
        <>
          {e.approval && <ApprovalCard approval={e.approval} />}
          <Card title="Overview">
            <KeyValues
              items={[
                [
                  'Job',
                  e.job_id === ADHOC_JOB_ID ? (
                    'break-glass run (kanade run)'
                  ) : (
                    <Link key="job" to={`/jobs/${encodeURIComponent(e.job_id)}`}>{`${e.job_id} (version ${e.version})`}</Link>
                  ),
                ],
                ['Fired by', e.initiated_by],
                ['At', `${formatDateTime(e.initiated_at)} (${formatRelative(e.initiated_at)})`],
                ['Target', targetsText(e)],
                ['Machines targeted', e.target_count],
                ['Progress', <Progress key="progress" e={e} />],
                ['Outcome', <span key="outcome" data-testid="outcome-counts">{describeCounts(countsOf(e))}</span>],
                ...(rollout.data
                  ? ([
                      [
                        'Rollout',
                        <span key="rollout" data-testid="rollout">
                          <Badge tone={rollout.data.status === 'halted' ? 'bad' : rollout.data.status === 'held' ? 'warn' : rollout.data.status === 'done' ? 'ok' : 'info'}>{rollout.data.status}</Badge> {rollout.data.waves_published} of{' '}
                          {rollout.data.waves_total} waves sent{rollout.data.note ? ` — ${rollout.data.note}` : ''}
                        </span>,
                      ],
                    ] as [string, ReactNode][])
                  : []),
                ['Execution id', <code key="executionid">{e.exec_id}</code>],
              ]}
            />
            {waiting > 0 && e.status !== 'completed' && (
              <p className="muted" data-testid="waiting-for">
                Waiting for {waiting} machine(s){waitingFor.length > 0 && <>: {waitingFor.slice(0, 20).join(', ')}{waitingFor.length > 20 && ` and ${waitingFor.length - 20} more`}</>}…
              </p>
            )}
          </Card>
          {can('operator') && ['pending', 'running', 'unconfirmed'].includes(e.status) && <LiveOutput execId={e.exec_id} several={e.target_count !== 1} />}
          <Card title="Results">
            <DataTable
              label="Results"
              filename={`results-${e.exec_id}`}
              rows={e.results}
              rowKey={(r) => r.result_id}
              initialSort={{ key: 'pc_id', dir: 'asc' }}
              empty="No machine has reported yet."
              columns={[
                { key: 'pc_id', header: 'Machine', value: (r) => r.pc_id, render: (r) => <Link to={`/agents/${encodeURIComponent(r.pc_id)}`}>{r.pc_id}</Link> },
                { key: 'exit_code', header: 'Exit', value: (r) => r.exit_code, render: (r) => <ExitBadge code={r.exit_code} skipped={r.skipped} reaped={r.reaped} /> },
                { key: 'meaning', header: 'Outcome', value: (r) => resultNote(r), render: (r) => <ResultOutcome r={r} /> },
                { key: 'started_at', header: 'Started', value: (r) => r.started_at, render: (r) => formatDateTime(r.started_at), wide: true },
                { key: 'took', header: 'Took', value: (r) => between(r.started_at, r.finished_at), render: (r) => formatDuration(between(r.started_at, r.finished_at)), align: 'right' },
                {
                  key: 'output',
                  header: 'Output',
                  sortable: false,
                  noExport: true,
                  value: () => '',
                  render: (r) => <Link to={`/results/${encodeURIComponent(r.result_id)}`}>{r.exit_code === null ? 'running: live output' : 'stdout / stderr'}</Link>,
                },
              ]}
            />
          </Card>
        </>
      )}
    </div>
  )
}
