// Inventory: pick a job that collects facts, see them per machine (the columns its manifest's
// `display` names, else the raw facts). Says "not available yet" on a backend without the
// inventory routes.

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { ApiError, api, qs } from '../api/client'
import type { JobSummary, Page } from '../api/types'
import { DataTable, type Column } from '../components/DataTable'
import { Card, ErrorBox, NotAvailable } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'

interface DisplayField {
  field: string
  label?: string | null
}

interface InventoryFacts {
  pc_id: string
  job_id: string
  facts: unknown
  summary?: unknown
  collected_at: string
}

interface InventoryJobPage extends Page<InventoryFacts> {
  job_id: string
  display?: DisplayField[]
  summary?: DisplayField[]
}

/** The value at a dotted path of an object ("os.name"). */
export function pick(obj: unknown, path: string): unknown {
  let cur = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

function cell(v: unknown): string | number | boolean | null {
  if (v === undefined || v === null) return null
  return typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean)
}

const KEYS = ['job', 'page'] as const

export function InventoryPage() {
  const [s, set] = useUrlState(KEYS)
  const page = Number(s.page) || 0
  const size = 25
  const jobs = useQuery({ queryKey: ['jobs'], queryFn: ({ signal }) => api.get<JobSummary[]>('/api/jobs', signal) })
  const inv = useQuery({
    queryKey: ['inventory', s.job, page],
    queryFn: ({ signal }) => api.get<InventoryJobPage>(`/api/inventory/${encodeURIComponent(s.job)}${qs({ limit: size, offset: page * size })}`, signal),
    enabled: !!s.job,
    retry: false,
    placeholderData: keepPreviousData,
  })
  const routeMissing = inv.error instanceof ApiError && inv.error.routeMissing
  const noInventory = inv.error instanceof ApiError && inv.error.status === 404 && !routeMissing
  const fields = inv.data?.display?.length ? inv.data.display : (inv.data?.summary ?? [])
  const columns: Column<InventoryFacts>[] = [
    { key: 'pc_id', header: 'Machine', value: (r) => r.pc_id, render: (r) => <Link to={`/agents/${encodeURIComponent(r.pc_id)}`}>{r.pc_id}</Link> },
    ...(fields.length
      ? fields.map((f) => ({ key: `f:${f.field}`, header: f.label ?? f.field, value: (r: InventoryFacts) => cell(pick(r.facts, f.field)) }))
      : [{ key: 'facts', header: 'Facts', value: (r: InventoryFacts) => cell(r.facts), render: (r: InventoryFacts) => <code className="clip">{JSON.stringify(r.facts)}</code> }]),
    { key: 'collected_at', header: 'Collected', value: (r) => r.collected_at, render: (r) => <span title={formatDateTime(r.collected_at)}>{formatRelative(r.collected_at)}</span> },
  ]
  return (
    <div className="page">
      <h1>Inventory</h1>
      <p className="muted">Facts collected by jobs with an `inventory` hint, per machine.</p>
      <label className="inline">
        Job
        <select value={s.job} onChange={(e) => set({ job: e.target.value, page: null })}>
          <option value="">pick a job…</option>
          {jobs.data?.map((j) => (
            <option key={j.id} value={j.id}>
              {j.id}
            </option>
          ))}
        </select>
      </label>
      {routeMissing ? (
        <Card title="Inventory">
          <NotAvailable />
        </Card>
      ) : noInventory ? (
        <p className="alert info">This job has collected no inventory (it has no `inventory` hint, or no machine has run it yet).</p>
      ) : s.job ? (
        <>
          <ErrorBox error={inv.error} />
          <DataTable
            label={`Inventory of ${s.job}`}
            filename={`inventory-${s.job}`}
            rows={inv.data?.items}
            loading={inv.isPending}
            rowKey={(r) => r.pc_id}
            columns={columns}
            server={{
              total: inv.data?.total ?? 0,
              page,
              pageSize: size,
              onPage: (p) => set({ page: p }),
              exportAll: async () => (await api.get<InventoryJobPage>(`/api/inventory/${encodeURIComponent(s.job)}?limit=1000`)).items,
            }}
          />
        </>
      ) : null}
    </div>
  )
}
