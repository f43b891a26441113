// Small building blocks: errors, badges, cards, the "not available yet" placeholder.

import type { ReactNode } from 'react'
import { Link } from 'react-router'
import { ApiError } from '../api/client'

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.field ? `${error.message}` : error.message
  if (error instanceof Error) return error.message
  return String(error)
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null
  if (error instanceof ApiError && error.routeMissing) return <NotAvailable />
  return (
    <div className="alert error" role="alert">
      {title && <strong>{title}: </strong>}
      {errorText(error)}
      {error instanceof ApiError && error.code && <span className="muted"> ({error.code})</span>}
    </div>
  )
}

export function NotAvailable({ what }: { what?: string }) {
  return (
    <div className="placeholder" data-testid="not-available">
      <strong>Not available yet.</strong> {what ?? 'This backend does not offer this yet'}; the page fills in once the backend gains the
      route.
    </div>
  )
}

export function Card({ title, children, actions, className }: { title: ReactNode; children: ReactNode; actions?: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ''}`}>
      <header className="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  )
}

export function Stat({ label, value, tone, to }: { label: string; value: ReactNode; tone?: 'ok' | 'bad' | 'warn'; to?: string }) {
  const inner = (
    <>
      <span className={`stat-value ${tone ?? ''}`}>{value}</span>
      <span className="stat-label">{label}</span>
    </>
  )
  return to ? (
    <Link className="stat" to={to}>
      {inner}
    </Link>
  ) : (
    <div className="stat">{inner}</div>
  )
}

export function Badge({ tone, title, children }: { tone?: 'ok' | 'bad' | 'warn' | 'info' | 'muted'; title?: string; children: ReactNode }) {
  return <span className={`badge ${tone ?? ''}`} title={title}>{children}</span>
}

export function OnlineBadge({ online }: { online: boolean }) {
  return <Badge tone={online ? 'ok' : 'muted'}>{online ? 'online' : 'offline'}</Badge>
}

export function StatusBadge({ status }: { status: string }) {
  const tone =
    status === 'completed' ? 'ok' : status === 'running' || status === 'pending' ? 'info' : status === 'expired' || status === 'unconfirmed' || status === 'awaiting_approval' ? 'warn' : status === 'rejected' ? 'bad' : 'muted'
  const title =
    status === 'unconfirmed'
      ? 'The broker did not acknowledge the command in time: it may have run; results still count.'
      : status === 'awaiting_approval'
        ? "The job requires approval: nothing is sent until a second operator approves."
        : undefined
  return <Badge tone={tone} title={title}>{status}</Badge>
}

/** An exit code with its meaning (kanade reserves a few). */
export function exitMeaning(code: number | null, skipped: boolean, reaped: boolean): string {
  if (code === null) return 'running'
  if (reaped) return 'reaped (deadline passed while running)'
  if (skipped) return SKIP_MEANINGS[code] ?? 'skipped'
  if (code === -1) return 'killed or timed out'
  return code === 0 ? 'ok' : 'failed'
}

/** The agent's reserved codes of skipped results (README, "Reserved exit codes"). Only a
 * result the agent marked skipped means one of these: scripts may exit with the same numbers. */
const SKIP_MEANINGS: Record<number, string> = {
  119: 'skipped: the command needs a part this agent does not support',
  120: 'skipped: no user is logged on (run_as)',
  122: 'skipped: unsupported on this machine',
  123: 'skipped: signature refused',
  124: 'skipped: job version mismatch',
  125: 'skipped: deadline passed before start',
  126: 'skipped: job revoked',
  127: 'skipped: command stale',
}

export function ExitBadge({ code, skipped, reaped }: { code: number | null; skipped: boolean; reaped: boolean }) {
  const meaning = exitMeaning(code, skipped, reaped)
  const tone = code === null ? 'info' : skipped ? 'warn' : code === 0 ? 'ok' : 'bad'
  return (
    <Badge tone={tone}>
      <span title={meaning}>{code === null ? 'running' : skipped ? `skipped (${code})` : `exit ${code}`}</span>
    </Badge>
  )
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <span className="spinner" role="status">
      <span className="sr-only">{label}</span>
    </span>
  )
}

export function KeyValues({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  )
}
