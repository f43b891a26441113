// An execution's outcome in words and colour: counts by outcome (ok / failed / timed out /
// killed / skipped with reason / not reported, and a check job's check statuses), coloured by
// the worst one — never green while something failed or a check warned — and break-glass runs
// named by their user instead of `_adhoc`.

import type { ExecutionSummary, Outcome, OutcomeCounts, ResultSummary } from '../api/types'

export type Tone = 'ok' | 'bad' | 'warn' | 'info' | 'muted'

/** The job id of a break-glass `kanade run`. */
export const ADHOC_JOB_ID = '_adhoc'

/** The counts, from the three counters when the backend sends no `outcomes`. */
export function countsOf(e: ExecutionSummary): OutcomeCounts {
  if (e.outcomes) return e.outcomes
  const missing = Math.max(0, e.target_count - e.success_count - e.failure_count - e.skipped_count)
  const over = e.status === 'completed' || e.status === 'expired'
  return { ok: e.success_count, failed: e.failure_count, timed_out: 0, killed: 0, skipped: e.skipped_count, not_reported: over ? missing : 0, running: 0, waiting: over ? 0 : missing }
}

/** The worst outcome with a count, or null before any. */
export function worstOf(c: OutcomeCounts): Outcome | null {
  const check = (s: string) => c.checks?.[s] ?? 0
  const order: [Outcome, number][] = [
    ['failed', c.failed + check('fail')],
    ['timed_out', c.timed_out],
    ['not_reported', c.not_reported],
    ['killed', c.killed],
    ['skipped', c.skipped],
    ['warn', check('warn') + check('unknown')],
    ['running', c.running + c.waiting],
    ['ok', c.ok],
  ]
  return order.find(([, n]) => n > 0)?.[0] ?? null
}

export function toneOf(worst: Outcome | null | undefined): Tone {
  switch (worst) {
    case 'ok':
      return 'ok'
    case 'failed':
    case 'timed_out':
    case 'not_reported':
      return 'bad'
    case 'killed':
    case 'skipped':
    case 'warn':
      return 'warn'
    case 'running':
      return 'info'
    default:
      return 'muted'
  }
}

/** "2 ok, 1 failed, 1 timed out, 1 skipped (revoked), 3 waiting". */
export function describeCounts(c: OutcomeCounts): string {
  const parts: string[] = []
  const push = (n: number, what: string) => {
    if (n > 0) parts.push(`${n} ${what}`)
  }
  push(c.ok, 'ok')
  push(c.failed, 'failed')
  push(c.timed_out, 'timed out')
  push(c.killed, 'killed')
  const reasons = Object.entries(c.skip_reasons ?? {})
    .map(([r, n]) => (n === c.skipped ? r : `${n} ${r}`))
    .join(', ')
  push(c.skipped, reasons ? `skipped (${reasons})` : 'skipped')
  push(c.not_reported, 'not reported')
  push(c.running, 'running')
  push(c.waiting, 'waiting')
  if (!parts.length) return 'no results'
  const checks = ['ok', 'warn', 'fail', 'unknown'].filter((s) => c.checks?.[s] !== undefined).map((s) => `${c.checks?.[s]} ${s}`)
  return parts.join(', ') + (checks.length ? `; checks: ${checks.join(', ')}` : '')
}

/** What an execution ran: the job, or "run by <user>" for a break-glass run. */
export function jobLabel(e: Pick<ExecutionSummary, 'job_id' | 'initiated_by'>): string {
  if (e.job_id !== ADHOC_JOB_ID) return e.job_id
  return `run by ${e.initiated_by.replace(/^cli:/, '')}`
}

/** "web-1, group:canary", "all", or "—" when the backend does not say. */
export function targetsText(e: ExecutionSummary): string {
  const t = e.targets ?? []
  if (t.length === 0) return '—'
  return t.length <= 3 ? t.join(', ') : `${t.slice(0, 2).join(', ')} and ${t.length - 2} more`
}

/** One result's outcome in words, from the flags when the backend sends no note. */
export function resultNote(r: ResultSummary): string {
  if (r.outcome_note) return r.outcome_note
  if (r.reaped) return 'not reported'
  if (r.exit_code === null) return 'running'
  if (r.skipped) return 'skipped'
  return r.exit_code === 0 ? 'ok' : `exit ${r.exit_code}`
}

export function resultTone(r: ResultSummary): Tone {
  if (r.outcome) return toneOf(r.outcome)
  if (r.exit_code === null) return 'info'
  if (r.skipped) return 'warn'
  return r.exit_code === 0 && !r.reaped ? 'ok' : 'bad'
}
