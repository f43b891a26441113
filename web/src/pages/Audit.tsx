// The audit log: every operator action, newest first, filtered by actor, action and time on
// the server.

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api, qs } from '../api/client'
import type { AuditEntry, Page } from '../api/types'
import { DataTable } from '../components/DataTable'
import { Debounced } from '../components/Debounced'
import { formatDateTime, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'

const KEYS = ['actor', 'action', 'since', 'until', 'page', 'size'] as const

function localToIso(v: string): string | undefined {
  if (!v) return undefined
  const d = new Date(v)
  return Number.isFinite(d.getTime()) ? d.toISOString() : undefined
}

export function AuditPage() {
  const [s, set] = useUrlState(KEYS)
  const page = Number(s.page) || 0
  const size = Number(s.size) || 25
  const filters = { actor: s.actor, action: s.action, since: localToIso(s.since), until: localToIso(s.until) }
  const q = useQuery({
    queryKey: ['audit', filters, page, size],
    queryFn: ({ signal }) => api.get<Page<AuditEntry>>(`/api/audit${qs({ ...filters, limit: size, offset: page * size })}`, signal),
    placeholderData: keepPreviousData,
  })
  return (
    <div className="page">
      <h1>Audit log</h1>
      <div className="filters" role="group" aria-label="Audit filters">
        <label>
          Actor
          <Debounced value={s.actor} onChange={(v) => set({ actor: v, page: null })} placeholder="user name" />
        </label>
        <label>
          Action
          <Debounced value={s.action} onChange={(v) => set({ action: v, page: null })} placeholder="exec, job.create…" />
        </label>
        <label>
          Since
          <input type="datetime-local" value={s.since} onChange={(e) => set({ since: e.target.value, page: null })} />
        </label>
        <label>
          Until
          <input type="datetime-local" value={s.until} onChange={(e) => set({ until: e.target.value, page: null })} />
        </label>
      </div>
      <DataTable
        label="Audit log"
        filename="audit"
        rows={q.data?.items}
        loading={q.isPending}
        error={q.error}
        rowKey={(a) => String(a.id)}
        server={{
          total: q.data?.total ?? 0,
          page,
          pageSize: size,
          onPage: (p) => set({ page: p }),
          onPageSize: (n) => set({ size: n, page: null }),
          exportAll: async () => (await api.get<Page<AuditEntry>>(`/api/audit${qs({ ...filters, limit: 1000 })}`)).items,
        }}
        empty="No recorded actions match."
        columns={[
          { key: 'occurred_at', header: 'When', value: (a) => a.occurred_at, render: (a) => <span title={formatDateTime(a.occurred_at)}>{formatRelative(a.occurred_at)}</span> },
          { key: 'actor', header: 'Actor', value: (a) => a.actor },
          { key: 'action', header: 'Action', value: (a) => a.action, render: (a) => <code>{a.action}</code> },
          { key: 'target', header: 'Target', value: (a) => a.target ?? '' },
          { key: 'client_addr', header: 'From', value: (a) => a.client_addr ?? '', wide: true },
          { key: 'payload', header: 'Details', value: (a) => JSON.stringify(a.payload), render: (a) => <code className="clip">{JSON.stringify(a.payload)}</code>, wide: true },
        ]}
      />
    </div>
  )
}
