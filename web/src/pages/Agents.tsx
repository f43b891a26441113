// The fleet table: filtered, sorted and paged by the API (q, online, os, version, group).

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { api, qs } from '../api/client'
import type { AgentRow, GroupSummary, Page } from '../api/types'
import { DataTable, type Column } from '../components/DataTable'
import { Debounced } from '../components/Debounced'
import { Badge, OnlineBadge } from '../components/ui'
import { formatBytes, formatDateTime, formatPct, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'

const KEYS = ['q', 'online', 'os', 'version', 'group', 'sort', 'order', 'page', 'size'] as const
const SORTABLE = ['pc_id', 'hostname', 'os_family', 'os_version', 'agent_version', 'last_heartbeat', 'first_seen', 'agent_cpu_pct', 'agent_rss_bytes']

const columns: Column<AgentRow>[] = [
  { key: 'pc_id', header: 'Machine', value: (a) => a.pc_id, render: (a) => <Link to={`/agents/${encodeURIComponent(a.pc_id)}`}>{a.pc_id}</Link> },
  { key: 'online', header: 'State', value: (a) => (a.online ? 'online' : 'offline'), render: (a) => <OnlineBadge online={a.online} /> },
  { key: 'hostname', header: 'Host name', value: (a) => a.hostname, wide: true },
  { key: 'os_family', header: 'OS', value: (a) => a.os_family },
  { key: 'os_version', header: 'OS version', value: (a) => a.os_version, wide: true },
  {
    key: 'agent_version',
    header: 'Agent',
    value: (a) => a.agent_version,
    render: (a) => (
      <>
        {a.agent_version}
        {a.quarantined_versions.length > 0 && (
          <>
            {' '}
            <Badge tone="bad">quarantined {a.quarantined_versions.join(', ')}</Badge>
          </>
        )}
      </>
    ),
  },
  { key: 'last_heartbeat', header: 'Last heartbeat', value: (a) => a.last_heartbeat, render: (a) => <span title={formatDateTime(a.last_heartbeat)}>{formatRelative(a.last_heartbeat)}</span> },
  { key: 'agent_cpu_pct', header: 'Agent CPU', value: (a) => a.agent_cpu_pct ?? null, render: (a) => formatPct(a.agent_cpu_pct), align: 'right', wide: true },
  { key: 'agent_rss_bytes', header: 'Agent memory', value: (a) => a.agent_rss_bytes ?? null, render: (a) => formatBytes(a.agent_rss_bytes), align: 'right', wide: true },
  { key: 'first_seen', header: 'First seen', value: (a) => a.first_seen, render: (a) => formatDateTime(a.first_seen), wide: true },
]

export function AgentsPage() {
  const [s, set] = useUrlState(KEYS)
  const page = Number(s.page) || 0
  const size = Number(s.size) || 25
  const filters = { q: s.q, online: s.online, os: s.os, version: s.version, group: s.group, sort: s.sort, order: s.order }
  const list = useQuery({
    queryKey: ['agents', filters, page, size],
    queryFn: ({ signal }) => api.get<Page<AgentRow>>(`/api/agents${qs({ ...filters, limit: size, offset: page * size })}`, signal),
    placeholderData: keepPreviousData,
  })
  const groups = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), retry: false })

  return (
    <div className="page">
      <h1>Agents</h1>
      <DataTable
        label="Agents"
        filename="agents"
        rows={list.data?.items}
        loading={list.isPending}
        error={list.error}
        rowKey={(a) => a.pc_id}
        columns={columns}
        empty="No machine has reported yet. Start kanade-agent on a machine pointed at this broker."
        server={{
          total: list.data?.total ?? 0,
          page,
          pageSize: size,
          onPage: (p) => set({ page: p }),
          onPageSize: (n) => set({ size: n, page: null }),
          sort: s.sort ? { key: s.sort, dir: s.order === 'desc' ? 'desc' : 'asc' } : null,
          onSort: (x) => set({ sort: x.key, order: x.dir, page: null }),
          sortable: SORTABLE,
          filter: s.q,
          onFilter: (q) => set({ q, page: null }),
          filterPlaceholder: 'Machine id or host name…',
          exportAll: async () => (await api.get<Page<AgentRow>>(`/api/agents${qs({ ...filters, limit: 1000 })}`)).items,
        }}
        toolbar={
          <>
            <label className="inline">
              <span className="sr-only">State</span>
              <select value={s.online} onChange={(e) => set({ online: e.target.value, page: null })} aria-label="State">
                <option value="">online + offline</option>
                <option value="true">online</option>
                <option value="false">offline</option>
              </select>
            </label>
            <Debounced aria-label="OS" placeholder="OS (linux…)" value={s.os} onChange={(v) => set({ os: v, page: null })} className="short" />
            <Debounced aria-label="Agent version" placeholder="Agent version" value={s.version} onChange={(v) => set({ version: v, page: null })} className="short" />
            {groups.data && groups.data.length > 0 && (
              <select value={s.group} onChange={(e) => set({ group: e.target.value, page: null })} aria-label="Group">
                <option value="">any group</option>
                {groups.data.map((g) => (
                  <option key={g.name} value={g.name}>
                    {g.name} ({g.members})
                  </option>
                ))}
              </select>
            )}
          </>
        }
      />
    </div>
  )
}
