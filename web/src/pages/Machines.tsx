// Machine access: who the broker lets in. Machines waiting for a decision come first, with
// Approve / Reject; the rest follow with Revoke (or Approve again). Admins also make
// enrollment tokens (the text is shown once, with a copy button) and delete them. Operators see
// the machines read-only; viewers see neither.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api } from '../api/client'
import type { CreatedToken, DecisionResponse, MachineIdentity, TokenRow } from '../api/types'
import { useAuth } from '../auth'
import { AddMachine } from '../components/AddMachine'
import { DataTable, type Column } from '../components/DataTable'
import { Badge, Card, ErrorBox, errorText } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'
import { actionsFor, fingerprint, splitMachines, tokenFormProblems, tokenRequest, tokenState, type TokenForm } from '../lib/machines'

type Verdict = 'approve' | 'reject' | 'revoke'

const STATUS_TONE = { pending: 'warn', approved: 'ok', rejected: 'muted', revoked: 'bad' } as const
const VERDICT_LABEL: Record<Verdict, string> = { approve: 'Approve', reject: 'Reject', revoke: 'Revoke' }

function ShownOnce({ created, onDone }: { created: CreatedToken; onDone: () => void }) {
  const [copied, setCopied] = useState(false)
  return (
    <div className="alert info stack" role="status" data-testid="new-token">
      <strong>Token {created.token.id} — shown this once</strong>
      <code className="break" data-testid="token-text">
        {created.text}
      </code>
      <span>
        On each machine put <code>enrollment_token = "…"</code> under <code>[agent]</code> in agent.toml, or set <code>$KANADE_ENROLLMENT_TOKEN</code>. It enrolls {created.token.uses_total} machine(s) until {formatDateTime(created.token.expires_at)}.
      </span>
      <div className="row">
        <button
          type="button"
          className="btn small"
          onClick={async () => {
            await navigator.clipboard?.writeText(created.text)
            setCopied(true)
            setTimeout(() => setCopied(false), 1500)
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" className="btn small" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  )
}

function NewToken() {
  const qc = useQueryClient()
  const [form, setForm] = useState<TokenForm>({ group: '', expires: '24h', uses: '50' })
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [created, setCreated] = useState<CreatedToken | null>(null)
  const create = useMutation({
    mutationFn: () => api.post<CreatedToken>('/api/enrollment/tokens', tokenRequest(form)),
    onSuccess: (c) => {
      setCreated(c)
      void qc.invalidateQueries({ queryKey: ['enrollment-tokens'] })
    },
    onError: (err) => setErrors({ [err instanceof ApiError && err.field ? err.field : 'form']: errorText(err) }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const errs = tokenFormProblems(form)
    setErrors(errs)
    if (!Object.keys(errs).length) create.mutate()
  }
  const err = (k: string) => (errors[k] ? <span className="field-error">{errors[k]}</span> : null)
  return (
    <Card title="New enrollment token">
      {created ? (
        <ShownOnce created={created} onDone={() => setCreated(null)} />
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <p className="muted">A machine whose agent presents a token is let in at once, one use spent. Without one it waits here for an admin.</p>
          <div className="row wrap">
            <label>
              Group (optional)
              <input value={form.group} onChange={(e) => setForm({ ...form, group: e.target.value })} placeholder="joins this group" aria-invalid={!!errors.group} />
              {err('group')}
            </label>
            <label>
              Expires after
              <input value={form.expires} onChange={(e) => setForm({ ...form, expires: e.target.value })} placeholder="24h" aria-invalid={!!errors.expires} />
              {err('expires')}
            </label>
            <label>
              Uses
              <input inputMode="numeric" value={form.uses} onChange={(e) => setForm({ ...form, uses: e.target.value })} aria-invalid={!!errors.uses} />
              {err('uses')}
            </label>
          </div>
          {err('form')}
          <div className="row end">
            <button type="submit" className="btn primary" data-mutating disabled={create.isPending}>
              Create token
            </button>
          </div>
        </form>
      )}
    </Card>
  )
}

function Tokens() {
  const qc = useQueryClient()
  const list = useQuery({ queryKey: ['enrollment-tokens'], queryFn: ({ signal }) => api.get<TokenRow[]>('/api/enrollment/tokens', signal) })
  const remove = useMutation({
    mutationFn: (id: string) => api.del(`/api/enrollment/tokens/${encodeURIComponent(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['enrollment-tokens'] }),
  })
  return (
    <section className="stack">
      <h2>Enrollment tokens</h2>
      <ErrorBox error={remove.error} />
      <DataTable
        label="Enrollment tokens"
        filename="enrollment-tokens"
        rows={list.data}
        loading={list.isPending}
        error={list.error}
        rowKey={(t) => t.id}
        initialSort={{ key: 'created_at', dir: 'desc' }}
        empty="No tokens: machines wait for approval."
        columns={[
          { key: 'id', header: 'Token', value: (t) => t.id, render: (t) => <code>{t.id}</code> },
          { key: 'group', header: 'Group', value: (t) => t.group ?? '' },
          { key: 'uses_left', header: 'Uses left', align: 'right', value: (t) => t.uses_left, render: (t) => `${t.uses_left}/${t.uses_total}` },
          {
            key: 'state',
            header: 'State',
            value: (t) => tokenState(t),
            render: (t) => {
              const s = tokenState(t)
              return <Badge tone={s === 'usable' ? 'ok' : 'muted'}>{s}</Badge>
            },
          },
          { key: 'expires_at', header: 'Expires', value: (t) => t.expires_at, render: (t) => <span title={formatDateTime(t.expires_at)}>{formatRelative(t.expires_at)}</span> },
          { key: 'created_by', header: 'By', value: (t) => t.created_by, wide: true },
          { key: 'created_at', header: 'Created', value: (t) => t.created_at, render: (t) => formatDateTime(t.created_at), wide: true },
          {
            key: 'actions',
            header: 'Actions',
            sortable: false,
            noExport: true,
            value: () => '',
            render: (t) => (
              <button
                type="button"
                className="btn small danger"
                data-mutating
                onClick={() => {
                  if (confirm(`Delete token ${t.id}? Machines it enrolled stay.`)) remove.mutate(t.id)
                }}
              >
                Delete
              </button>
            ),
          },
        ]}
      />
    </section>
  )
}

function machineColumns(admin: boolean, decide: (m: MachineIdentity, v: Verdict) => void, busy: boolean): Column<MachineIdentity>[] {
  const cols: Column<MachineIdentity>[] = [
    { key: 'pc_id', header: 'Machine', value: (m) => m.pc_id },
    { key: 'status', header: 'Status', value: (m) => m.status, render: (m) => <Badge tone={STATUS_TONE[m.status]}>{m.status}</Badge> },
    {
      key: 'nkey',
      header: 'Key',
      value: (m) => m.nkey,
      render: (m) => (
        <span>
          <code title={m.nkey}>{fingerprint(m.nkey)}</code>
          {m.pending_nkey && (
            <>
              {' '}
              <Badge tone="warn" title={m.pending_nkey}>
                new key {fingerprint(m.pending_nkey)}
              </Badge>
            </>
          )}
        </span>
      ),
    },
    { key: 'address', header: 'Address', value: (m) => m.address, wide: true },
    { key: 'first_seen', header: 'First seen', value: (m) => m.first_seen, render: (m) => formatDateTime(m.first_seen), wide: true },
    { key: 'last_seen', header: 'Last seen', value: (m) => m.last_seen, render: (m) => <span title={formatDateTime(m.last_seen)}>{formatRelative(m.last_seen)}</span> },
    { key: 'decided_by', header: 'Decided by', value: (m) => m.decided_by ?? '', render: (m) => (m.decided_by ? <span title={m.reason ?? undefined}>{m.decided_by}</span> : <span className="muted">—</span>), wide: true },
  ]
  if (!admin) return cols
  cols.push({
    key: 'actions',
    header: 'Actions',
    sortable: false,
    noExport: true,
    value: () => '',
    render: (m) => (
      <span className="row nowrap">
        {actionsFor(m).map((v) => (
          <button key={v} type="button" className={`btn small${v === 'approve' ? ' primary' : v === 'revoke' ? ' danger' : ''}`} data-mutating disabled={busy} aria-label={`${VERDICT_LABEL[v]} ${m.pc_id}`} onClick={() => decide(m, v)}>
            {VERDICT_LABEL[v]}
          </button>
        ))}
      </span>
    ),
  })
  return cols
}

export function MachinesPage() {
  const { can } = useAuth()
  const admin = can('admin')
  const qc = useQueryClient()
  const list = useQuery({
    queryKey: ['machine-identities'],
    queryFn: ({ signal }) => api.get<MachineIdentity[]>('/api/machines/identities', signal),
    enabled: can('operator'),
    refetchInterval: 10_000,
  })
  const [notice, setNotice] = useState<string | null>(null)
  const decision = useMutation({
    mutationFn: ({ m, v, reason }: { m: MachineIdentity; v: Verdict; reason: string }) => api.post<DecisionResponse>(`/api/machines/identities/${encodeURIComponent(m.pc_id)}/${v}`, reason ? { reason } : {}),
    onSuccess: (r, { v }) => {
      setNotice(v === 'revoke' ? `Revoked ${r.pc_id}: ${r.connections_closed ?? 0} connection(s) closed.` : `${v === 'approve' ? 'Approved' : 'Rejected'} ${r.pc_id}.`)
      void qc.invalidateQueries({ queryKey: ['machine-identities'] })
    },
  })
  const decide = (m: MachineIdentity, v: Verdict) => {
    let reason = ''
    if (v !== 'approve') {
      const typed = prompt(`${VERDICT_LABEL[v]} ${m.pc_id}${v === 'revoke' ? ' (its connections close now)' : ''}. Reason (optional):`)
      if (typed === null) return
      reason = typed.trim()
    }
    setNotice(null)
    decision.mutate({ m, v, reason })
  }
  if (!can('operator'))
    return (
      <div className="page">
        <h1>Machine access</h1>
        <p className="alert warn">Only operators and admins see which machines the broker lets in.</p>
      </div>
    )
  const { waiting, decided } = splitMachines(list.data ?? [])
  const columns = machineColumns(admin, decide, decision.isPending)
  return (
    <div className="page">
      <h1>Machine access</h1>
      <ErrorBox error={decision.error} />
      {notice && (
        <p className="alert info" role="status">
          {notice}
        </p>
      )}
      <section className="stack">
        <h2>Waiting for a decision {waiting.length > 0 && <Badge tone="warn">{waiting.length}</Badge>}</h2>
        <DataTable
          label="Machines waiting for a decision"
          filename="machines-pending"
          rows={list.data ? waiting : undefined}
          loading={list.isPending}
          error={list.error}
          rowKey={(m) => m.pc_id}
          empty="No machine is waiting."
          columns={columns}
        />
      </section>
      <section className="stack">
        <h2>Decided</h2>
        <DataTable label="Decided machines" filename="machines" rows={list.data ? decided : undefined} loading={list.isPending} error={list.error} rowKey={(m) => m.pc_id} initialSort={{ key: 'pc_id', dir: 'asc' }} empty="None yet." columns={columns} />
      </section>
      {admin ? (
        <>
          <AddMachine />
          <NewToken />
          <Tokens />
        </>
      ) : (
        <p className="muted">Admins approve, reject and revoke machines and make enrollment tokens.</p>
      )}
    </div>
  )
}
