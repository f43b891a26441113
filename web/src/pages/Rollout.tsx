// Rollout: the agent releases published to the broker (admins publish them here), the target
// version each scope pins (operators set and clear it; agents update themselves to it within
// the jitter), the versions the fleet runs now, and the versions agents quarantined after a
// failed start.

import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { useMemo, useRef, useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { ApiError, api, qs, request } from '../api/client'
import type { AgentRelease, AgentRow, ConfigScope, GroupSummary, Page, VersionCount } from '../api/types'
import { useAuth } from '../auth'
import { DataTable } from '../components/DataTable'
import { ScopeLink } from '../components/EffectiveConfig'
import { ScopePicker } from '../components/ScopePicker'
import { Badge, Card, ErrorBox, NotAvailable, errorText } from '../components/ui'
import { parseFieldValue, scopeKey, scopeLabel, type ScopeRef } from '../lib/config'
import { formatBytes } from '../lib/format'

const TOKEN = /^[A-Za-z0-9._-]{1,64}$/

function Publish({ onDone }: { onDone: () => void }) {
  const [version, setVersion] = useState('')
  const [platform, setPlatform] = useState('')
  const [file, setFile] = useState<File | null>(null)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [done, setDone] = useState<AgentRelease | null>(null)
  const fileInput = useRef<HTMLInputElement>(null)
  const publish = useMutation({
    mutationFn: () =>
      request<AgentRelease>(`/api/agent-releases${qs({ version: version.trim(), platform: platform.trim() })}`, { method: 'POST', body: file!, contentType: 'application/octet-stream' }),
    onSuccess: (r) => {
      setDone(r)
      setVersion('')
      setPlatform('')
      setFile(null)
      if (fileInput.current) fileInput.current.value = ''
      onDone()
    },
    onError: (err) => setErrors({ [err instanceof ApiError && err.field ? err.field : 'form']: errorText(err) }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    setDone(null)
    const errs: Record<string, string> = {}
    if (!TOKEN.test(version.trim())) errs.version = "letters, digits, '.', '-' and '_' (at most 64)"
    if (platform.trim() && !TOKEN.test(platform.trim())) errs.platform = "letters, digits, '.', '-' and '_' (at most 64)"
    if (!file) errs.file = 'choose the agent binary'
    else if (file.size === 0) errs.file = 'the file is empty'
    setErrors(errs)
    if (!Object.keys(errs).length) publish.mutate()
  }
  const err = (k: string) => (errors[k] ? <span className="field-error">{errors[k]}</span> : null)
  return (
    <form className="stack" onSubmit={submit} noValidate>
      <div className="grid three">
        <label>
          Version
          <input value={version} onChange={(e) => setVersion(e.target.value)} placeholder="e.g. 1.4.0" aria-invalid={!!errors.version} autoComplete="off" />
          {err('version')}
        </label>
        <label>
          Platform (empty: the backend&apos;s own)
          <input value={platform} onChange={(e) => setPlatform(e.target.value)} placeholder="e.g. linux-x86_64" aria-invalid={!!errors.platform} autoComplete="off" />
          {err('platform')}
        </label>
        <label>
          Agent binary
          <input ref={fileInput} type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} aria-invalid={!!errors.file} />
          {file ? <span className="muted small">{formatBytes(file.size)}</span> : err('file')}
        </label>
      </div>
      {err('form')}
      {done && (
        <p className="alert ok" role="status">
          Published {done.key} ({formatBytes(done.size)}, SHA-256 <code>{done.sha256.slice(0, 12)}…</code>).
        </p>
      )}
      <div>
        <button type="submit" className="btn primary" data-mutating disabled={publish.isPending}>
          {publish.isPending ? 'Publishing…' : 'Publish'}
        </button>
      </div>
    </form>
  )
}

function SetTarget({ versions, onDone }: { versions: string[]; onDone: () => void }) {
  const [scope, setScope] = useState<ScopeRef>({ kind: 'global', name: '' })
  const [version, setVersion] = useState('')
  const [jitter, setJitter] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [done, setDone] = useState<string | null>(null)
  const key = scopeKey(scope)
  const write = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.patch<ConfigScope>(`/api/config/${encodeURIComponent(key!)}`, body),
    onSuccess: (_, body) => {
      setDone(body.target_version === null ? `Cleared the target of ${scopeLabel(key!)}.` : `${scopeLabel(key!)} now targets ${body.target_version}.`)
      onDone()
    },
    onError: (err) => setErrors({ [err instanceof ApiError && err.field ? err.field : 'form']: errorText(err) }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    setDone(null)
    const errs: Record<string, string> = {}
    const j = parseFieldValue('duration', jitter)
    if (!key) errs.scope = 'name the group or machine'
    if (!version.trim()) errs.target_version = 'which version to roll out'
    if (!j.ok) errs.target_version_jitter = j.error
    setErrors(errs)
    if (!Object.keys(errs).length && j.ok) write.mutate({ target_version: version.trim(), target_version_jitter: j.value })
  }
  const err = (k: string) => (errors[k] ? <span className="field-error">{errors[k].replace(`${k}: `, '')}</span> : null)
  return (
    <form className="stack" onSubmit={submit} noValidate>
      <div>
        <span className="label-text">Scope</span>
        <ScopePicker value={scope} onChange={setScope} label="Target scope" />
        {err('scope')}
      </div>
      <div className="grid two">
        <label>
          Target version
          <input value={version} onChange={(e) => setVersion(e.target.value)} list="release-versions" placeholder="a published version" aria-invalid={!!errors.target_version} autoComplete="off" />
          <datalist id="release-versions">
            {versions.map((v) => (
              <option key={v} value={v} />
            ))}
          </datalist>
          {err('target_version')}
        </label>
        <label>
          Jitter (spread the updates over)
          <input value={jitter} onChange={(e) => setJitter(e.target.value)} placeholder="e.g. 30m (empty: unset)" aria-invalid={!!errors.target_version_jitter} autoComplete="off" />
          {err('target_version_jitter')}
        </label>
      </div>
      {err('form')}
      {done && (
        <p className="alert ok" role="status">
          {done}
        </p>
      )}
      <div className="row">
        <button type="submit" className="btn primary" data-mutating disabled={write.isPending}>
          Set target
        </button>
        <button
          type="button"
          className="btn"
          data-mutating
          disabled={!key || write.isPending}
          onClick={() => {
            setErrors({})
            write.mutate({ target_version: null, target_version_jitter: null })
          }}
        >
          Clear target of this scope
        </button>
      </div>
    </form>
  )
}

interface TargetRow {
  scope: string
  config?: ConfigScope
  error?: unknown
  loading: boolean
}

function Targets({ editable, onCleared }: { editable: boolean; onCleared: () => void }) {
  const groups = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), retry: false })
  const scopes = useMemo(() => ['global', ...(groups.data ?? []).map((g) => `groups.${g.name}`)], [groups.data])
  const configs = useQueries({
    queries: scopes.map((scope) => ({
      queryKey: ['config', scope],
      queryFn: ({ signal }: { signal: AbortSignal }) => api.get<ConfigScope>(`/api/config/${encodeURIComponent(scope)}`, signal),
    })),
  })
  const clear = useMutation({
    mutationFn: (scope: string) => api.patch(`/api/config/${encodeURIComponent(scope)}`, { target_version: null, target_version_jitter: null }),
    onSuccess: onCleared,
  })
  const rows: TargetRow[] = scopes.map((scope, i) => ({ scope, config: configs[i]?.data, error: configs[i]?.error, loading: !!configs[i]?.isPending }))
  const loading = groups.isPending || rows.some((r) => r.loading)
  const failed = rows.find((r) => r.error)?.error ?? groups.error
  return (
    <>
      <DataTable
        label="Target versions"
        filename="target-versions"
        rows={loading ? undefined : rows}
        loading={loading}
        error={failed}
        rowKey={(r) => r.scope}
        pageSize={10}
        empty="No scope to show."
        columns={[
          { key: 'scope', header: 'Scope', value: (r) => r.scope, render: (r) => <ScopeLink scope={r.scope} /> },
          {
            key: 'target_version',
            header: 'Target version',
            value: (r) => r.config?.target_version ?? null,
            render: (r) => (r.config?.target_version ? <Badge tone="info">{r.config.target_version}</Badge> : <span className="muted">none</span>),
          },
          { key: 'jitter', header: 'Jitter', value: (r) => r.config?.target_version_jitter ?? null, render: (r) => r.config?.target_version_jitter ?? <span className="muted">—</span> },
          ...(editable
            ? [
                {
                  key: 'actions',
                  header: 'Actions',
                  sortable: false,
                  noExport: true,
                  value: () => '',
                  render: (r: TargetRow) =>
                    r.config?.target_version || r.config?.target_version_jitter ? (
                      <button type="button" className="btn small" data-mutating disabled={clear.isPending} onClick={() => clear.mutate(r.scope)} aria-label={`Clear the target of ${r.scope}`}>
                        Clear
                      </button>
                    ) : null,
                },
              ]
            : []),
        ]}
      />
      <ErrorBox error={clear.error} />
      <p className="muted small">A machine&apos;s own scope wins over its groups, and a group over global; see a machine&apos;s effective target on its page.</p>
    </>
  )
}

/** Every agent, page by page (the API gives at most 1000 at a time). */
async function allAgents(signal: AbortSignal): Promise<AgentRow[]> {
  const out: AgentRow[] = []
  for (let offset = 0; ; offset += 1000) {
    const page = await api.get<Page<AgentRow>>(`/api/agents${qs({ limit: 1000, offset })}`, signal)
    out.push(...page.items)
    if (page.items.length === 0 || out.length >= page.total) return out
  }
}

interface Quarantine {
  version: string
  machines: string[]
}

function Quarantined() {
  const q = useQuery({ queryKey: ['fleet-quarantine'], queryFn: ({ signal }) => allAgents(signal), staleTime: 60_000 })
  const rows = useMemo<Quarantine[] | undefined>(() => {
    if (!q.data) return undefined
    const by = new Map<string, string[]>()
    for (const a of q.data) for (const v of a.quarantined_versions) by.set(v, [...(by.get(v) ?? []), a.pc_id])
    return [...by].map(([version, machines]) => ({ version, machines }))
  }, [q.data])
  return (
    <DataTable
      label="Quarantined versions"
      filename="quarantined-versions"
      rows={rows}
      loading={q.isPending}
      error={q.error}
      rowKey={(r) => r.version}
      pageSize={10}
      initialSort={{ key: 'count', dir: 'desc' }}
      empty="No agent has quarantined a version."
      columns={[
        { key: 'version', header: 'Version', value: (r) => r.version, render: (r) => <Badge tone="bad">{r.version}</Badge> },
        { key: 'count', header: 'Machines', value: (r) => r.machines.length, align: 'right' },
        {
          key: 'machines',
          header: 'Where',
          value: (r) => r.machines.join(' '),
          render: (r) => (
            <span className="chips inline">
              {r.machines.slice(0, 8).map((m) => (
                <Link key={m} to={`/agents/${encodeURIComponent(m)}`}>
                  {m}
                </Link>
              ))}
              {r.machines.length > 8 && <span className="muted">and {r.machines.length - 8} more</span>}
            </span>
          ),
        },
      ]}
    />
  )
}

export function RolloutPage() {
  const { can } = useAuth()
  const qc = useQueryClient()
  const releases = useQuery({ queryKey: ['releases'], queryFn: ({ signal }) => api.get<AgentRelease[]>('/api/agent-releases', signal), retry: false })
  const versions = useQuery({ queryKey: ['dashboard', 'versions'], queryFn: ({ signal }) => api.get<VersionCount[]>('/api/agents/versions', signal) })
  const releaseVersions = useMemo(() => [...new Set((releases.data ?? []).map((r) => r.version))], [releases.data])
  const configChanged = () => {
    void qc.invalidateQueries({ queryKey: ['config'] })
    void qc.invalidateQueries({ queryKey: ['agent'] })
  }
  return (
    <div className="page">
      <h1>Rollout</h1>
      <p className="muted">
        Admins publish agent binaries to the broker; operators pin a <strong>target version</strong> for everyone, a group or a machine, and agents update themselves to it, spread over the jitter. A version that fails to start on a machine is rolled back and quarantined there.
      </p>
      <div className="grid two">
        <Card title="Target versions">
          <Targets editable={can('operator')} onCleared={configChanged} />
        </Card>
        {can('operator') && (
          <Card title="Set a target version">
            <SetTarget versions={releaseVersions} onDone={configChanged} />
          </Card>
        )}
      </div>
      <div className="grid two">
        <Card title="Agent versions in the fleet">
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
        <Card title="Quarantined versions">
          <Quarantined />
        </Card>
      </div>
      <Card title="Published releases">
        {releases.error instanceof ApiError && releases.error.routeMissing ? (
          <NotAvailable />
        ) : (
          <DataTable
            label="Releases"
            filename="agent-releases"
            rows={releases.data}
            loading={releases.isPending}
            error={releases.error}
            rowKey={(r) => r.key}
            initialSort={{ key: 'version', dir: 'desc' }}
            empty="No release published yet."
            columns={[
              { key: 'version', header: 'Version', value: (r) => r.version },
              { key: 'platform', header: 'Platform', value: (r) => r.platform },
              { key: 'size', header: 'Size', value: (r) => r.size, render: (r) => formatBytes(r.size), align: 'right' },
              { key: 'sha256', header: 'SHA-256', value: (r) => r.sha256, render: (r) => <code title={r.sha256}>{r.sha256.slice(0, 16)}…</code>, wide: true },
              { key: 'published_by', header: 'Published by', value: (r) => r.published_by ?? '', wide: true },
            ]}
          />
        )}
      </Card>
      {can('admin') && (
        <Card title="Publish a release">
          <Publish onDone={() => void qc.invalidateQueries({ queryKey: ['releases'] })} />
        </Card>
      )}
    </div>
  )
}
