// The fleet table: filtered, sorted and paged by the API (q, online, os, version, group), with
// each machine's addresses, uptime and load; rows can be selected for a bulk action (add to a
// group, run a job, ping: `components/BulkActions`).

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { Link } from 'react-router'
import { api, qs } from '../api/client'
import type { AgentRow, GroupSummary, Page } from '../api/types'
import { BulkActions } from '../components/BulkActions'
import { DataTable, type Column } from '../components/DataTable'
import { Debounced } from '../components/Debounced'
import { Badge, OnlineBadge } from '../components/ui'
import { formatLoad, formatUptime } from '../lib/fleet'
import { formatBytes, formatDateTime, formatPct, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'

const KEYS = ['q', 'online', 'os', 'version', 'group', 'sort', 'order', 'page', 'size'] as const
const SORTABLE = ['pc_id', 'hostname', 'os_family', 'os_version', 'agent_version', 'last_heartbeat', 'first_seen', 'agent_cpu_pct', 'agent_rss_bytes', 'uptime_secs']

const columns: Column<AgentRow>[] = [
  { key: 'pc_id', header: 'Machine', value: (a) => a.pc_id, render: (a) => <Link to={`/agents/${encodeURIComponent(a.pc_id)}`}>{a.pc_id}</Link> },
  { key: 'online', header: 'State', value: (a) => (a.online ? 'online' : 'offline'), render: (a) => <OnlineBadge online={a.online} /> },
  { key: 'hostname', header: 'Host name', value: (a) => a.hostname, wide: true },
  {
    key: 'ip_addresses',
    header: 'IP addresses',
    value: (a) => (a.ip_addresses ?? []).join(' '),
    sortable: false,
    render: (a) => (a.ip_addresses?.length ? <span className="addresses">{a.ip_addresses.join(', ')}</span> : <span className="muted">—</span>),
  },
  { key: 'os_family', header: 'OS', value: (a) => a.os_family },
  { key: 'os_version', header: 'OS version', value: (a) => a.os_version, wide: true },
  {
    key: 'uptime_secs',
    header: 'Uptime',
    value: (a) => a.uptime_secs ?? null,
    render: (a) => <span title={a.uptime_secs != null ? `as of the last heartbeat, ${formatDateTime(a.last_heartbeat)}` : 'not reported'}>{formatUptime(a.uptime_secs, a.last_heartbeat, a.online)}</span>,
    align: 'right',
  },
  {
    key: 'load_avg',
    header: 'Load',
    value: (a) => a.load_avg?.[0] ?? null,
    sortable: false,
    render: (a) => <span title="load average over 1, 5 and 15 minutes">{formatLoad(a.load_avg)}</span>,
    align: 'right',
  },
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
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const toggle = (pc: string, on: boolean) => {
    const next = new Set(selected)
    if (on) next.add(pc)
    else next.delete(pc)
    setSelected(next)
  }
  const pageIds = (list.data?.items ?? []).map((a) => a.pc_id)
  const pageSelected = pageIds.length > 0 && pageIds.every((pc) => selected.has(pc))
  const selectColumn: Column<AgentRow> = {
    key: 'select',
    header: '',
    value: (a) => selected.has(a.pc_id),
    sortable: false,
    noExport: true,
    render: (a) => <input type="checkbox" aria-label={`Select ${a.pc_id}`} checked={selected.has(a.pc_id)} onChange={(e) => toggle(a.pc_id, e.target.checked)} />,
  }

  return (
    <div className="page">
      <h1>Agents</h1>
      <BulkActions selected={[...selected].sort()} onClear={() => setSelected(new Set())} />
      <DataTable
        label="Agents"
        filename="agents"
        rows={list.data?.items}
        loading={list.isPending}
        error={list.error}
        rowKey={(a) => a.pc_id}
        rowClass={(a) => (selected.has(a.pc_id) ? 'selected' : undefined)}
        columns={[selectColumn, ...columns]}
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
          filterPlaceholder: 'Machine id, host name or address…',
          exportAll: async () => (await api.get<Page<AgentRow>>(`/api/agents${qs({ ...filters, limit: 1000 })}`)).items,
        }}
        toolbar={
          <>
            <button type="button" className="btn small" disabled={pageIds.length === 0} onClick={() => setSelected(pageSelected ? new Set([...selected].filter((pc) => !pageIds.includes(pc))) : new Set([...selected, ...pageIds]))}>
              {pageSelected ? 'Unselect page' : 'Select page'}
            </button>
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
