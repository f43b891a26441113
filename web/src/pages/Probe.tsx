// Pages whose backend routes are still being built. Each asks its route: a 404 shows a
// "not available yet" placeholder; once the route exists its rows show in a generic table.

import { useQuery } from '@tanstack/react-query'
import { ApiError, api } from '../api/client'
import { DataTable, type Column } from '../components/DataTable'
import { Card, ErrorBox, NotAvailable } from '../components/ui'

type Row = Record<string, unknown>

function cell(v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v
  return JSON.stringify(v)
}

/** Rows out of a list or a page ({items}); scalars and single objects become one row. */
export function rowsOf(data: unknown): Row[] {
  const list = Array.isArray(data) ? data : data && typeof data === 'object' && Array.isArray((data as { items?: unknown }).items) ? (data as { items: unknown[] }).items : [data]
  return list.map((x) => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Row) : { value: x }))
}

export function ProbePage({ title, path, about }: { title: string; path: string; about: string }) {
  const q = useQuery({ queryKey: ['probe', path], queryFn: ({ signal }) => api.get<unknown>(path, signal), retry: false })
  const missing = q.error instanceof ApiError && q.error.status === 404
  const rows = q.data === undefined ? undefined : rowsOf(q.data)
  const keys = [...new Set((rows ?? []).slice(0, 50).flatMap((r) => Object.keys(r)))].slice(0, 10)
  const columns: Column<Row>[] = keys.map((k) => ({ key: k, header: k, value: (r) => cell(r[k]) }))
  return (
    <div className="page">
      <h1>{title}</h1>
      <p className="muted">{about}</p>
      {missing ? (
        <Card title={title}>
          <NotAvailable what={`This backend has no ${path} yet`} />
        </Card>
      ) : (
        <>
          <ErrorBox error={q.error} />
          <DataTable label={title} filename={title.toLowerCase()} rows={rows} loading={q.isPending} rowKey={(r) => JSON.stringify(r)} columns={columns} />
        </>
      )}
    </div>
  )
}
