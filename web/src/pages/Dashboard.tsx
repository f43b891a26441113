// The fleet at a glance: machines online/offline, agent versions, running executions, fleet
// CPU and memory over 24 h, the latest timeline events, and (when the backend has them)
// failing checks and the next schedules.

import { useQuery } from '@tanstack/react-query'
import { useMemo, type ReactNode } from 'react'
import { Link } from 'react-router'
import { ApiError, api, qs } from '../api/client'
import type { AgentRow, ExecutionSummary, FleetPerf, ObsEntry, Page, UpcomingFire, VersionCount } from '../api/types'
import { DataTable } from '../components/DataTable'
import { Progress } from '../components/Progress'
import { TimeChart } from '../components/TimeChart'
import { Card, ErrorBox, NotAvailable, Stat } from '../components/ui'
import { formatDateTime, formatPct, formatRelative } from '../lib/format'
import { presetRange, toColumns } from '../lib/series'
import { ExecutionBadge } from '../components/Outcome'
import { jobLabel } from '../lib/outcome'

const pctFmt = (v: number) => `${v.toFixed(0)} %`

function useProbe(key: string, path: string) {
  return useQuery({
    queryKey: ['dashboard', 'probe', key],
    queryFn: ({ signal }) => api.get<unknown>(path, signal),
    retry: false,
    staleTime: 60_000,
  })
}

function ProbeCard({ title, path, keyName, link, summary }: { title: string; path: string; keyName: string; link: string; summary?: (items: unknown[]) => ReactNode }) {
  const q = useProbe(keyName, path)
  const missing = q.error instanceof ApiError && q.error.status === 404
  const items = Array.isArray(q.data) ? q.data : q.data && typeof q.data === 'object' && 'items' in q.data ? (q.data as Page<unknown>).items : null
  return (
    <Card title={title} actions={<Link to={link}>Open</Link>}>
      {missing ? (
        <NotAvailable />
      ) : q.error ? (
        <ErrorBox error={q.error} />
      ) : items && summary ? (
        summary(items)
      ) : items ? (
        <p>
          {items.length} item{items.length === 1 ? '' : 's'}. <Link to={link}>See all</Link>
        </p>
      ) : (
        <p className="muted">Loading…</p>
      )}
    </Card>
  )
}

/** The checks of GET /api/compliance that fail somewhere, worst first. */
function failingChecks(items: unknown[]): ReactNode {
  const rows = (items as { check_name: string; label?: string | null; fail: number; ok: number }[]).filter((c) => c.fail > 0).sort((a, b) => b.fail - a.fail)
  if (items.length === 0) return <p className="muted">No check job has reported yet.</p>
  if (rows.length === 0) return <p className="ok-text">All {items.length} checks pass.</p>
  return (
    <ul className="plain-list">
      {rows.slice(0, 8).map((c) => (
        <li key={c.check_name}>
          <strong>{c.label ?? c.check_name}</strong> <span className="bad-text">{c.fail} failing</span> <span className="muted">{c.ok} ok</span>
        </li>
      ))}
    </ul>
  )
}

/** GET /api/schedules/upcoming: the soonest fires. */
function nextFires(items: unknown[]): ReactNode {
  // The soonest fire of each schedule.
  const seen = new Set<string>()
  const rows = (items as UpcomingFire[]).filter((f) => !seen.has(f.schedule_id) && !!seen.add(f.schedule_id)).slice(0, 6)
  if (rows.length === 0) return <p className="muted">No schedule fires on the clock.</p>
  return (
    <ul className="plain-list">
      {rows.map((f) => (
        <li key={`${f.schedule_id}-${f.at}`}>
          <span title={formatDateTime(f.at)}>{formatRelative(f.at)}</span> <Link to={`/schedules/${encodeURIComponent(f.schedule_id)}`}>{f.schedule_id}</Link> <span className="muted">runs {f.job_id}</span>
        </li>
      ))}
    </ul>
  )
}

export function DashboardPage() {
  const online = useQuery({ queryKey: ['dashboard', 'online'], queryFn: ({ signal }) => api.get<Page<AgentRow>>('/api/agents?online=true&limit=1', signal) })
  const offline = useQuery({ queryKey: ['dashboard', 'offline'], queryFn: ({ signal }) => api.get<Page<AgentRow>>('/api/agents?online=false&limit=1', signal) })
  const versions = useQuery({ queryKey: ['dashboard', 'versions'], queryFn: ({ signal }) => api.get<VersionCount[]>('/api/agents/versions', signal) })
  const executions = useQuery({ queryKey: ['executions', 'recent'], queryFn: ({ signal }) => api.get<Page<ExecutionSummary>>('/api/executions?limit=100', signal) })
  const fleet = useQuery({
    queryKey: ['dashboard', 'fleet'],
    queryFn: async ({ signal }) => {
      const range = presetRange('24h', Date.now())
      const perf = await api.get<FleetPerf>(`/api/perf/fleet${qs(range)}`, signal)
      return { perf, xRange: [Date.parse(range.from) / 1000, Date.parse(range.to) / 1000] as [number, number] }
    },
    refetchInterval: 60_000,
  })
  const timeline = useQuery({ queryKey: ['obs', 'dashboard'], queryFn: ({ signal }) => api.get<Page<ObsEntry>>('/api/obs_events?limit=10', signal) })

  const running = (executions.data?.items ?? []).filter((e) => e.status === 'running' || e.status === 'pending')
  const fleetData = useMemo(
    () => toColumns(fleet.data?.perf.series ?? [], (p) => Date.parse(p.at) / 1000, [(p) => p.cpu_avg, (p) => p.cpu_max, (p) => p.mem_pct_avg, (p) => p.mem_pct_max]),
    [fleet.data],
  )
  const cpuData = useMemo(() => [fleetData[0], fleetData[1], fleetData[2]] as typeof fleetData, [fleetData])
  const memData = useMemo(() => [fleetData[0], fleetData[3], fleetData[4]] as typeof fleetData, [fleetData])
  const cpuSeries = useMemo(() => [{ label: 'CPU avg', color: 'var(--c1)', fill: true }, { label: 'CPU max', color: 'var(--c2)' }], [])
  const memSeries = useMemo(() => [{ label: 'Memory avg', color: 'var(--c3)', fill: true }, { label: 'Memory max', color: 'var(--c4)' }], [])

  return (
    <div className="page">
      <h1>Dashboard</h1>
      <div className="stats">
        <Stat label="machines online" value={online.data?.total ?? '…'} tone="ok" to="/agents?online=true" />
        <Stat label="offline" value={offline.data?.total ?? '…'} tone={offline.data?.total ? 'warn' : undefined} to="/agents?online=false" />
        <Stat label="running executions" value={executions.data ? running.length : '…'} to="/executions" />
        <Stat label="CPU p90 now" value={fleet.data ? (fleet.data.perf.machines ? formatPct(fleet.data.perf.cpu_p90, 0) : '—') : '…'} />
        <Stat label="memory p90 now" value={fleet.data ? (fleet.data.perf.machines ? formatPct(fleet.data.perf.mem_pct_p90, 0) : '—') : '…'} />
      </div>
      <ErrorBox error={online.error ?? fleet.error} />
      <div className="grid two">
        <Card title="Fleet CPU, last 24 h">
          <TimeChart title="CPU %" data={cpuData} series={cpuSeries} step={fleet.data?.perf.step_secs} format={pctFmt} yMax={100} xRange={fleet.data?.xRange} />
        </Card>
        <Card title="Fleet memory, last 24 h">
          <TimeChart title="Memory used %" data={memData} series={memSeries} step={fleet.data?.perf.step_secs} format={pctFmt} yMax={100} xRange={fleet.data?.xRange} />
        </Card>
        <Card title="Running executions" actions={<Link to="/executions">All activity</Link>}>
          {running.length === 0 ? (
            <p className="muted">Nothing is running.</p>
          ) : (
            <ul className="plain-list">
              {running.slice(0, 8).map((e) => (
                <li key={e.exec_id}>
                  <Link to={`/executions/${e.exec_id}`}>{jobLabel(e)}</Link> <ExecutionBadge e={e} /> <span className="muted">{formatRelative(e.initiated_at)}</span>
                  <Progress e={e} />
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Agent versions">
          <DataTable
            label="Agent versions"
            filename="agent-versions"
            rows={versions.data}
            loading={versions.isPending}
            error={versions.error}
            rowKey={(v) => v.agent_version}
            pageSize={10}
            initialSort={{ key: 'machines', dir: 'desc' }}
            columns={[
              { key: 'agent_version', header: 'Version', value: (v) => v.agent_version, render: (v) => <Link to={`/agents?version=${encodeURIComponent(v.agent_version)}`}>{v.agent_version}</Link> },
              { key: 'machines', header: 'Machines', value: (v) => v.machines, align: 'right' },
              { key: 'online', header: 'Online', value: (v) => v.online, align: 'right' },
            ]}
          />
        </Card>
        <Card title="Recent timeline">
          {timeline.error ? (
            <ErrorBox error={timeline.error} />
          ) : (timeline.data?.items.length ?? 0) === 0 ? (
            <p className="muted">No timeline events yet.</p>
          ) : (
            <ul className="plain-list timeline">
              {timeline.data?.items.map((o) => (
                <li key={o.id}>
                  <span className="muted">{formatRelative(o.at)}</span> <Link to={`/agents/${encodeURIComponent(o.pc_id)}`}>{o.pc_id}</Link> <code>{o.kind}</code>{' '}
                  <span className="muted">{o.source}</span>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <ProbeCard title="Failing checks" path="/api/compliance" keyName="compliance" link="/compliance" summary={failingChecks} />
        <ProbeCard title="Next schedules" path="/api/schedules/upcoming?limit=100" keyName="upcoming" link="/schedules" summary={nextFires} />
      </div>
    </div>
  )
}
