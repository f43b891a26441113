// The job catalog: search, filter by tag, and (operators) create, edit and run.

import { useQuery } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import { Link } from 'react-router'
import { api } from '../api/client'
import type { JobSummary } from '../api/types'
import { useAuth } from '../auth'
import { DataTable } from '../components/DataTable'
import { ExecDialog } from '../components/ExecDialog'
import { useUrlState } from '../lib/params'

const KEYS = ['tag'] as const

export function JobsPage() {
  const { can } = useAuth()
  const jobs = useQuery({ queryKey: ['jobs'], queryFn: ({ signal }) => api.get<JobSummary[]>('/api/jobs', signal) })
  const [s, set] = useUrlState(KEYS)
  const [run, setRun] = useState<string | null>(null)
  const tags = useMemo(() => [...new Set((jobs.data ?? []).flatMap((j) => j.tags))].sort(), [jobs.data])
  const rows = useMemo(() => (jobs.data ?? []).filter((j) => !s.tag || j.tags.includes(s.tag)), [jobs.data, s.tag])

  return (
    <div className="page">
      <div className="page-head">
        <h1>Jobs</h1>
        {can('operator') && (
          <Link className="btn primary" to="/jobs/new" data-mutating>
            New job
          </Link>
        )}
      </div>
      {tags.length > 0 && (
        <div className="chips" role="group" aria-label="Filter by tag">
          <button type="button" className={`chip ${!s.tag ? 'active' : ''}`} aria-pressed={!s.tag} onClick={() => set({ tag: null })}>
            all
          </button>
          {tags.map((t) => (
            <button key={t} type="button" className={`chip ${s.tag === t ? 'active' : ''}`} aria-pressed={s.tag === t} onClick={() => set({ tag: s.tag === t ? null : t })}>
              {t}
            </button>
          ))}
        </div>
      )}
      <DataTable
        label="Jobs"
        filename="jobs"
        rows={jobs.data ? rows : undefined}
        loading={jobs.isPending}
        error={jobs.error}
        rowKey={(j) => j.id}
        initialSort={{ key: 'id', dir: 'asc' }}
        empty={can('operator') ? 'No jobs yet: create one with "New job".' : 'No jobs yet.'}
        columns={[
          { key: 'id', header: 'Job', value: (j) => j.id, render: (j) => <Link to={`/jobs/${encodeURIComponent(j.id)}`}>{j.id}</Link> },
          { key: 'version', header: 'Version', value: (j) => j.version },
          { key: 'description', header: 'Description', value: (j) => j.description ?? '', wide: true },
          { key: 'shell', header: 'Shell', value: (j) => j.shell },
          { key: 'timeout', header: 'Timeout', value: (j) => j.timeout, wide: true },
          {
            key: 'tags',
            header: 'Tags',
            value: (j) => j.tags.join(' '),
            render: (j) => (
              <span className="chips inline">
                {j.tags.map((t) => (
                  <button key={t} type="button" className="chip small" onClick={() => set({ tag: t })}>
                    {t}
                  </button>
                ))}
              </span>
            ),
          },
          ...(can('operator')
            ? [
                {
                  key: 'actions',
                  header: 'Actions',
                  sortable: false,
                  noExport: true,
                  value: () => '',
                  render: (j: JobSummary) => (
                    <button type="button" className="btn small" data-mutating onClick={() => setRun(j.id)} aria-label={`Run ${j.id}`}>
                      Run…
                    </button>
                  ),
                },
              ]
            : []),
        ]}
      />
      {run && <ExecDialog jobId={run} open={!!run} onClose={() => setRun(null)} />}
    </div>
  )
}
