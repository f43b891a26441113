// A job's run history on its page: the recent executions with how each ended (coloured by
// the worst outcome), when, who started it, and a link to the execution.

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { Link } from 'react-router'
import { api } from '../api/client'
import type { ExecutionSummary, Page } from '../api/types'
import { formatDateTime, formatRelative } from '../lib/format'
import { runOutcome } from '../lib/runs'
import { DataTable } from './DataTable'
import { Badge, Card } from './ui'

const SIZE = 10

export function JobRuns({ jobId }: { jobId: string }) {
  const [page, setPage] = useState(0)
  const q = useQuery({
    queryKey: ['executions', { job_id: jobId, page }],
    queryFn: ({ signal }) => api.get<Page<ExecutionSummary>>(`/api/executions?job_id=${encodeURIComponent(jobId)}&limit=${SIZE}&offset=${page * SIZE}`, signal),
    refetchInterval: 10_000,
    placeholderData: keepPreviousData,
  })
  const total = q.data?.total ?? 0
  return (
    <Card
      title="Run history"
      className="job-runs"
      actions={
        q.data ? (
          <span className="muted">
            {total} run{total === 1 ? '' : 's'}, newest first
          </span>
        ) : undefined
      }
    >
      <DataTable
        label={`Runs of ${jobId}`}
        filename={`runs-${jobId}`}
        rows={q.data?.items}
        loading={q.isPending}
        error={q.error}
        rowKey={(e) => e.exec_id}
        server={{
          total,
          page,
          pageSize: SIZE,
          onPage: setPage,
          exportAll: async () => (await api.get<Page<ExecutionSummary>>(`/api/executions?job_id=${encodeURIComponent(jobId)}&limit=500`)).items,
        }}
        empty="This job has not run yet."
        columns={[
          {
            key: 'initiated_at',
            header: 'When',
            value: (e) => e.initiated_at,
            render: (e) => (
              <Link to={`/executions/${encodeURIComponent(e.exec_id)}`} title={formatDateTime(e.initiated_at)}>
                {formatRelative(e.initiated_at)}
              </Link>
            ),
          },
          {
            key: 'outcome',
            header: 'Outcome',
            value: (e) => runOutcome(e).detail,
            render: (e) => {
              const o = runOutcome(e)
              return (
                <span className="row nowrap">
                  <Badge tone={o.tone} title={`${e.status}: ${o.detail}`}>
                    {o.label}
                  </Badge>
                  <span className="muted small">{o.detail}</span>
                </span>
              )
            },
          },
          { key: 'initiated_by', header: 'By', value: (e) => e.initiated_by },
          { key: 'version', header: 'Version', value: (e) => e.version, wide: true },
        ]}
      />
    </Card>
  )
}
