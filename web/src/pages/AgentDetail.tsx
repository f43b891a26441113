// One machine: its facts and groups, its effective config and investigation mode (start, stop,
// the time left), performance over a chosen range, the process snapshot, its timeline and its
// run history; ping asks it to answer right now.

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo, useState } from 'react'
import { Link, useParams } from 'react-router'
import { ApiError, api, qs } from '../api/client'
import type { AgentRow, CheckRow, EffectiveConfigView, ObsEntry, Page, PerfSeries, PingResult, ProcessSnapshot, ResultSummary } from '../api/types'
import { useAuth } from '../auth'
import { AgentLogs } from '../components/AgentLogs'
import { TerminalCard } from '../components/TerminalCard'
import { DataTable } from '../components/DataTable'
import { AgentMetaCard } from '../components/AgentMeta'
import { EffectiveConfigTable } from '../components/EffectiveConfig'
import { RangePicker, resolveRange, type RangeChoice } from '../components/RangePicker'
import { TimeChart } from '../components/TimeChart'
import { Badge, Card, ErrorBox, ExitBadge, KeyValues, OnlineBadge, errorText } from '../components/ui'
import { useNow } from '../lib/clock'
import { INVESTIGATION_DURATIONS, STOP_INVESTIGATION, investigationEnds, scopeLabel, sourceOf, startInvestigation } from '../lib/config'
import { formatLoad, formatUptime } from '../lib/fleet'
import { between, formatBytes, formatCountdown, formatDateTime, formatDuration, formatPct, formatRate, formatRelative, toMillis } from '../lib/format'
import { ADHOC_JOB_ID } from '../lib/outcome'
import { toColumns } from '../lib/series'
import { CheckBadge } from './Compliance'

const pctFmt = (v: number) => `${v.toFixed(0)} %`

function Groups({ agent }: { agent: AgentRow }) {
  const { can } = useAuth()
  const qc = useQueryClient()
  const [name, setName] = useState('')
  const change = useMutation({
    mutationFn: ({ group, add }: { group: string; add: boolean }) =>
      add ? api.put(`/api/agents/${encodeURIComponent(agent.pc_id)}/groups/${encodeURIComponent(group)}`) : api.del(`/api/agents/${encodeURIComponent(agent.pc_id)}/groups/${encodeURIComponent(group)}`),
    onSuccess: () => {
      setName('')
      void qc.invalidateQueries({ queryKey: ['agent', agent.pc_id] })
      void qc.invalidateQueries({ queryKey: ['groups'] })
    },
  })
  return (
    <div className="stack">
      <div className="chips">
        {agent.groups.length === 0 && <span className="muted">In no group.</span>}
        {agent.groups.map((g) => (
          <span key={g} className="chip">
            <Link to={`/agents?group=${encodeURIComponent(g)}`}>{g}</Link>
            {can('operator') && (
              <button type="button" className="chip-x" aria-label={`Remove from ${g}`} data-mutating onClick={() => change.mutate({ group: g, add: false })}>
                ✕
              </button>
            )}
          </span>
        ))}
      </div>
      {can('operator') && (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault()
            if (name.trim()) change.mutate({ group: name.trim(), add: true })
          }}
        >
          <input aria-label="Group to add" placeholder="group name" value={name} onChange={(e) => setName(e.target.value)} pattern="[A-Za-z0-9_\-]+" />
          <button type="submit" className="btn small" data-mutating disabled={!name.trim() || change.isPending}>
            Add to group
          </button>
        </form>
      )}
      {change.error && <ErrorBox error={change.error} />}
    </div>
  )
}

function Perf({ pcId }: { pcId: string }) {
  const [range, setRange] = useState<RangeChoice>({ preset: '24h' })
  const perf = useQuery({
    queryKey: ['agent', pcId, 'perf', range],
    queryFn: ({ signal }) => api.get<PerfSeries>(`/api/agents/${encodeURIComponent(pcId)}/perf${qs(resolveRange(range, Date.now()))}`, signal),
    placeholderData: keepPreviousData,
    refetchInterval: 'preset' in range ? 60_000 : false,
  })
  const pts = useMemo(() => perf.data?.points ?? [], [perf.data])
  const xRange = useMemo<[number, number] | undefined>(() => (perf.data ? [Date.parse(perf.data.from) / 1000, Date.parse(perf.data.to) / 1000] : undefined), [perf.data])
  const step = perf.data?.step_secs
  const x = (p: { at: string }) => Date.parse(p.at) / 1000
  const cpu = useMemo(() => toColumns(pts, x, [(p) => p.cpu_pct]), [pts])
  const mem = useMemo(() => toColumns(pts, x, [(p) => p.mem_used_bytes, (p) => p.mem_total_bytes, (p) => p.swap_used_bytes]), [pts])
  const disk = useMemo(() => toColumns(pts, x, [(p) => p.disk_read_bytes_per_sec, (p) => p.disk_written_bytes_per_sec]), [pts])
  const net = useMemo(() => toColumns(pts, x, [(p) => p.net_rx_bytes_per_sec, (p) => p.net_tx_bytes_per_sec]), [pts])
  const s = useMemo(
    () => ({
      cpu: [{ label: 'CPU', color: 'var(--c1)', fill: true }],
      mem: [
        { label: 'used', color: 'var(--c3)', fill: true },
        { label: 'total', color: 'var(--muted)' },
        { label: 'swap', color: 'var(--c2)' },
      ],
      disk: [
        { label: 'read', color: 'var(--c1)' },
        { label: 'written', color: 'var(--c4)' },
      ],
      net: [
        { label: 'received', color: 'var(--c3)' },
        { label: 'sent', color: 'var(--c2)' },
      ],
    }),
    [],
  )
  return (
    <Card title="Performance" actions={<RangePicker value={range} onChange={setRange} />}>
      <ErrorBox error={perf.error} />
      {step ? <p className="muted small">One point per {formatDuration(step * 1000)}.</p> : null}
      <div className="grid two">
        <TimeChart title="CPU" data={cpu} series={s.cpu} step={step} format={pctFmt} yMax={100} xRange={xRange} />
        <TimeChart title="Memory" data={mem} series={s.mem} step={step} format={formatBytes} xRange={xRange} bytes />
        <TimeChart title="Disk" data={disk} series={s.disk} step={step} format={formatRate} xRange={xRange} bytes />
        <TimeChart title="Network" data={net} series={s.net} step={step} format={formatRate} xRange={xRange} bytes />
      </div>
    </Card>
  )
}

const PROCESS_REFRESH_MS = 5000

/** The latest process snapshot, refreshed while investigating. */
function Processes({ pcId, investigating }: { pcId: string; investigating: boolean }) {
  const q = useQuery({
    queryKey: ['agent', pcId, 'processes'],
    queryFn: ({ signal }) => api.get<ProcessSnapshot>(`/api/agents/${encodeURIComponent(pcId)}/processes`, signal),
    refetchInterval: investigating ? PROCESS_REFRESH_MS : false,
  })
  return (
    <>
      <div className="card-head">
        <h3>Processes</h3>
        <span className="row">
          {investigating && <Badge tone="info">refreshing every {PROCESS_REFRESH_MS / 1000} s</Badge>}
          {q.data?.at ? <span className="muted">snapshot {formatRelative(q.data.at)}</span> : null}
        </span>
      </div>
      <DataTable
        label="Processes"
        filename={`processes-${pcId}`}
        rows={q.data?.processes}
        loading={q.isPending}
        error={q.error}
        rowKey={(p) => String(p.pid)}
        pageSize={10}
        initialSort={{ key: 'cpu_pct', dir: 'desc' }}
        empty="No process snapshot: the agent sends one only in investigation mode."
        columns={[
          { key: 'pid', header: 'PID', value: (p) => p.pid, align: 'right' },
          { key: 'name', header: 'Name', value: (p) => p.name },
          { key: 'cpu_pct', header: 'CPU', value: (p) => p.cpu_pct, render: (p) => formatPct(p.cpu_pct), align: 'right' },
          { key: 'rss_bytes', header: 'Memory', value: (p) => p.rss_bytes, render: (p) => formatBytes(p.rss_bytes), align: 'right' },
          { key: 'disk_read', header: 'Disk read', value: (p) => p.disk_read_bytes_per_sec, render: (p) => formatRate(p.disk_read_bytes_per_sec), align: 'right', wide: true },
          { key: 'disk_written', header: 'Disk written', value: (p) => p.disk_written_bytes_per_sec, render: (p) => formatRate(p.disk_written_bytes_per_sec), align: 'right', wide: true },
        ]}
      />
    </>
  )
}

function useEffectiveConfig(pcId: string) {
  return useQuery({
    queryKey: ['agent', pcId, 'config'],
    queryFn: ({ signal }) => api.get<EffectiveConfigView>(`/api/agents/${encodeURIComponent(pcId)}/effective_config`, signal),
  })
}

function Investigation({ pcId, view, error }: { pcId: string; view: EffectiveConfigView | undefined; error: unknown }) {
  const { can } = useAuth()
  const qc = useQueryClient()
  const [choice, setChoice] = useState(0)
  const enabled = !!view?.effective.process_perf_enabled
  const now = useNow(1000, enabled)
  const ends = investigationEnds(view, now)
  const expiry = toMillis(view?.effective.process_perf_expires_at)
  const source = sourceOf(view, 'process_perf_enabled')
  const own = `pcs.${pcId}`
  const patch = useMutation({
    mutationFn: (body: object) => api.patch(`/api/config/${encodeURIComponent(own)}`, body),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['agent', pcId] })
      void qc.invalidateQueries({ queryKey: ['config'] })
    },
  })
  // At the expiry the agent stops by itself; read the config and the snapshot again then.
  useEffect(() => {
    if (!enabled || expiry === null) return
    const wait = expiry - Date.now()
    if (wait < 0) return
    const t = setTimeout(() => void qc.invalidateQueries({ queryKey: ['agent', pcId] }), wait + 1000)
    return () => clearTimeout(t)
  }, [enabled, expiry, pcId, qc])
  const on = ends !== null
  return (
    <Card title="Investigation mode" actions={view ? <Badge tone={on ? 'warn' : 'muted'}>{on ? 'investigating' : 'off'}</Badge> : undefined}>
      <ErrorBox error={error} />
      {view &&
        (on ? (
          <div className="stack tight">
            <p className="countdown-line">
              <span className="countdown" data-testid="investigation-countdown" aria-label={`time left ${formatCountdown(ends, now)}`}>
                {formatCountdown(ends, now)}
              </span>{' '}
              <span className="muted">left, ends at {formatDateTime(ends)}</span>
            </p>
            <p className="muted small">
              The agent sends its {view.effective.process_perf_top_n} busiest processes every {view.effective.process_perf_interval}; the table below follows them.
            </p>
            {source && source !== own && (
              <p className="alert info small">
                Turned on by {scopeLabel(source)}: stopping here removes only this machine&apos;s own setting.
              </p>
            )}
          </div>
        ) : (
          <p className="muted">
            While on, the agent sends its busiest processes every few seconds. It always ends by itself at the expiry.
            {enabled && expiry !== null && expiry <= now && <> The last one ended {formatRelative(expiry, now)}.</>}
          </p>
        ))}
      {view && can('operator') && (
        <div className="row">
          <label className="inline">
            For
            <select value={choice} onChange={(e) => setChoice(Number(e.target.value))} aria-label="Investigate for">
              {INVESTIGATION_DURATIONS.map((d, i) => (
                <option key={d.label} value={i}>
                  {d.label}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="btn primary" data-mutating disabled={patch.isPending} onClick={() => patch.mutate(startInvestigation(Date.now(), INVESTIGATION_DURATIONS[choice].ms))}>
            {on ? 'Extend' : 'Start investigation'}
          </button>
          {(on || source === own) && (
            <button type="button" className="btn" data-mutating disabled={patch.isPending} onClick={() => patch.mutate(STOP_INVESTIGATION)}>
              Stop
            </button>
          )}
        </div>
      )}
      {patch.error && <ErrorBox error={patch.error} />}
      <Processes pcId={pcId} investigating={on} />
    </Card>
  )
}

function ConfigCard({ pcId, view, loading, error }: { pcId: string; view: EffectiveConfigView | undefined; loading: boolean; error: unknown }) {
  return (
    <Card title="Effective config" actions={<Link to={`/config?scope=${encodeURIComponent(`pcs.${pcId}`)}`}>This machine&apos;s settings</Link>}>
      <EffectiveConfigTable view={view} loading={loading} error={error} />
    </Card>
  )
}

function Timeline({ pcId }: { pcId: string }) {
  const [page, setPage] = useState(0)
  const size = 10
  const q = useQuery({
    queryKey: ['obs', pcId, page],
    queryFn: ({ signal }) => api.get<Page<ObsEntry>>(`/api/obs_events${qs({ pc_id: pcId, limit: size, offset: page * size })}`, signal),
    placeholderData: keepPreviousData,
  })
  return (
    <Card title="Timeline">
      <DataTable
        label="Timeline"
        filename={`timeline-${pcId}`}
        rows={q.data?.items}
        loading={q.isPending}
        error={q.error}
        rowKey={(o) => String(o.id)}
        server={{
          total: q.data?.total ?? 0,
          page,
          pageSize: size,
          onPage: setPage,
          exportAll: async () => (await api.get<Page<ObsEntry>>(`/api/obs_events${qs({ pc_id: pcId, limit: 1000 })}`)).items,
        }}
        empty="No events on this machine's timeline."
        columns={[
          { key: 'at', header: 'When', value: (o) => o.at, render: (o) => <span title={formatDateTime(o.at)}>{formatRelative(o.at)}</span> },
          { key: 'kind', header: 'Kind', value: (o) => o.kind, render: (o) => <code>{o.kind}</code> },
          { key: 'source', header: 'Source', value: (o) => o.source },
          { key: 'payload', header: 'Details', value: (o) => JSON.stringify(o.payload), render: (o) => <code className="clip">{JSON.stringify(o.payload)}</code>, wide: true },
        ]}
      />
    </Card>
  )
}

function Checks({ pcId }: { pcId: string }) {
  const q = useQuery({ queryKey: ['agent', pcId, 'checks'], queryFn: ({ signal }) => api.get<CheckRow[]>(`/api/agents/${encodeURIComponent(pcId)}/checks`, signal), retry: false })
  if (q.error instanceof ApiError && q.error.routeMissing) return null
  return (
    <Card title="Checks">
      <DataTable
        label="Checks"
        filename={`checks-${pcId}`}
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(c) => c.check_name}
        pageSize={10}
        initialSort={{ key: 'status', dir: 'asc' }}
        empty="No check job has reported from this machine."
        columns={[
          { key: 'check_name', header: 'Check', value: (c) => c.label ?? c.check_name, render: (c) => <Link to={`/compliance?check=${encodeURIComponent(c.check_name)}`}>{c.label ?? c.check_name}</Link> },
          { key: 'status', header: 'Status', value: (c) => ['fail', 'warn', 'unknown', 'ok'].indexOf(c.status), render: (c) => <CheckBadge status={c.status} /> },
          { key: 'detail', header: 'Detail', value: (c) => c.detail ?? '', wide: true },
          { key: 'finished_at', header: 'Checked', value: (c) => c.finished_at, render: (c) => formatRelative(c.finished_at) },
        ]}
      />
    </Card>
  )
}

interface FactsRow {
  job_id: string
  facts: unknown
  collected_at: string
}

function Inventory({ pcId }: { pcId: string }) {
  const q = useQuery({ queryKey: ['agent', pcId, 'inventory'], queryFn: ({ signal }) => api.get<FactsRow[]>(`/api/agents/${encodeURIComponent(pcId)}/inventory`, signal), retry: false })
  if (q.error instanceof ApiError && q.error.routeMissing) return null
  return (
    <Card title="Inventory">
      <DataTable
        label="Inventory"
        filename={`inventory-${pcId}`}
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(f) => f.job_id}
        pageSize={10}
        empty="No inventory job has reported from this machine."
        columns={[
          { key: 'job_id', header: 'Job', value: (f) => f.job_id, render: (f) => <Link to={`/inventory?job=${encodeURIComponent(f.job_id)}`}>{f.job_id}</Link> },
          { key: 'facts', header: 'Facts', value: (f) => JSON.stringify(f.facts), render: (f) => <code className="clip">{JSON.stringify(f.facts)}</code> },
          { key: 'collected_at', header: 'Collected', value: (f) => f.collected_at, render: (f) => formatRelative(f.collected_at) },
        ]}
      />
    </Card>
  )
}

export function RunHistory({ pcId }: { pcId: string }) {
  const [page, setPage] = useState(0)
  const size = 10
  const q = useQuery({
    queryKey: ['results', { pc_id: pcId }, page],
    queryFn: ({ signal }) => api.get<Page<ResultSummary>>(`/api/results${qs({ pc_id: pcId, limit: size, offset: page * size })}`, signal),
    placeholderData: keepPreviousData,
  })
  return (
    <Card title="Run history">
      <DataTable
        label="Run history"
        filename={`runs-${pcId}`}
        rows={q.data?.items}
        loading={q.isPending}
        error={q.error}
        rowKey={(r) => r.result_id}
        server={{
          total: q.data?.total ?? 0,
          page,
          pageSize: size,
          onPage: setPage,
          exportAll: async () => (await api.get<Page<ResultSummary>>(`/api/results${qs({ pc_id: pcId, limit: 1000 })}`)).items,
        }}
        empty="This machine has run nothing yet."
        columns={[
          { key: 'job_id', header: 'Job', value: (r) => r.job_id, render: (r) => <Link to={`/results/${encodeURIComponent(r.result_id)}`}>{r.job_id === ADHOC_JOB_ID ? 'break-glass run' : r.job_id}</Link> },
          { key: 'version', header: 'Version', value: (r) => r.version, wide: true },
          { key: 'exit_code', header: 'Result', value: (r) => r.exit_code, render: (r) => <ExitBadge code={r.exit_code} skipped={r.skipped} reaped={r.reaped} /> },
          { key: 'started_at', header: 'Started', value: (r) => r.started_at, render: (r) => formatDateTime(r.started_at) },
          { key: 'duration', header: 'Took', value: (r) => between(r.started_at, r.finished_at), render: (r) => formatDuration(between(r.started_at, r.finished_at)), align: 'right' },
          { key: 'exec', header: 'Execution', value: (r) => r.exec_id, render: (r) => <Link to={`/executions/${encodeURIComponent(r.exec_id)}`}>{r.exec_id.slice(0, 8)}</Link>, wide: true },
        ]}
      />
    </Card>
  )
}

export function AgentDetailPage() {
  const { id = '' } = useParams()
  const { can } = useAuth()
  const agent = useQuery({ queryKey: ['agent', id], queryFn: ({ signal }) => api.get<AgentRow>(`/api/agents/${encodeURIComponent(id)}`, signal) })
  const ping = useMutation({ mutationFn: () => api.post<PingResult>(`/api/agents/${encodeURIComponent(id)}/ping`) })
  const config = useEffectiveConfig(id)
  const a = agent.data
  if (agent.error instanceof ApiError && agent.error.status === 404)
    return (
      <div className="page">
        <h1>{id}</h1>
        <p className="alert warn">No machine with this id has reported to this backend.</p>
      </div>
    )
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          {id} {a && <OnlineBadge online={a.online} />}
        </h1>
        <div className="row">
          <button type="button" className="btn" onClick={() => ping.mutate()} disabled={ping.isPending}>
            {ping.isPending ? 'Pinging…' : 'Ping'}
          </button>
          {ping.data && (
            <span role="status" data-testid="ping-result">
              {ping.data.answered ? <Badge tone="ok">answered in {ping.data.rtt_ms?.toFixed(0)} ms</Badge> : <Badge tone="bad">no answer within 5 s</Badge>}
            </span>
          )}
          {ping.error && <span className="bad-text">{errorText(ping.error)}</span>}
        </div>
      </div>
      <ErrorBox error={agent.error} />
      {a && (
        <div className="grid two">
          <Card title="Facts">
            <KeyValues
              items={[
                ['Host name', a.hostname],
                ['OS', `${a.os_family} ${a.os_version}`],
                ['IP addresses', a.ip_addresses?.length ? a.ip_addresses.join(', ') : 'not reported'],
                ['Uptime', formatUptime(a.uptime_secs, a.last_heartbeat, a.online)],
                ['Load (1, 5, 15 min)', formatLoad(a.load_avg)],
                ['Agent version', a.agent_version],
                ['Last heartbeat', `${formatRelative(a.last_heartbeat)} (${formatDateTime(a.last_heartbeat)})`],
                ['First seen', formatDateTime(a.first_seen)],
                ['Agent CPU', formatPct(a.agent_cpu_pct)],
                ['Agent memory', formatBytes(a.agent_rss_bytes)],
                ['Agent disk read / written', `${formatBytes(a.agent_disk_read_bytes)} / ${formatBytes(a.agent_disk_written_bytes)}`],
                ['Last logged-on user', a.last_logon_user ? (a.last_logon_display_name ? `${a.last_logon_user} (${a.last_logon_display_name})` : a.last_logon_user) : 'unknown'],
                ['Command protocols', a.command_protocols?.length ? a.command_protocols.join(', ') : 'not reported'],
                ['Quarantined versions', a.quarantined_versions.length ? a.quarantined_versions.join(', ') : 'none'],
                ['Command signatures', a.enforcing == null ? '-' : a.enforcing ? 'enforced' : 'reported only'],
                ['Signing keys', a.command_keys?.length ? a.command_keys.join(', ') : '-'],
              ]}
            />
          </Card>
          <Card title="Groups">
            <Groups agent={a} />
          </Card>
        </div>
      )}
      <AgentMetaCard pcId={id} />
      <div className="grid wide-narrow">
        <Investigation pcId={id} view={config.data} error={config.error} />
        <ConfigCard pcId={id} view={config.data} loading={config.isPending} error={config.error} />
      </div>
      <Perf pcId={id} />
      <div className="grid two">
        <Timeline pcId={id} />
        <Checks pcId={id} />
      </div>
      <Inventory pcId={id} />
      <RunHistory pcId={id} />
      {can('operator') && <AgentLogs pcId={id} />}
      {can('admin') && <TerminalCard pcId={id} />}
    </div>
  )
}

