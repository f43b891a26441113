// A job's run history in one line per execution: how it ended, coloured by the worst outcome
// (a `completed` run with failures is not green), for the job page.

import type { ExecutionSummary } from '../api/types'

export interface RunOutcome {
  tone: 'ok' | 'bad' | 'warn' | 'info' | 'muted'
  /** "ok", "2 failed", "running", "skipped" ... */
  label: string
  /** "3 of 4 ok, 1 failed" — every count, for the title and the export. */
  detail: string
}

/** How an execution ended, from its counts and status. */
export function runOutcome(e: ExecutionSummary): RunOutcome {
  const done = e.success_count + e.failure_count + e.skipped_count
  const parts = [`${e.success_count} of ${e.target_count} ok`]
  if (e.failure_count) parts.push(`${e.failure_count} failed`)
  if (e.skipped_count) parts.push(`${e.skipped_count} skipped`)
  const missing = Math.max(0, e.target_count - done)
  const over = e.status !== 'pending' && e.status !== 'running'
  if (missing && over) parts.push(`${missing} not reported`)
  const detail = parts.join(', ')
  if (e.status === 'awaiting_approval') return { tone: 'warn', label: 'awaiting approval', detail }
  if (e.status === 'rejected') return { tone: 'bad', label: 'rejected', detail }
  if (e.failure_count) return { tone: 'bad', label: `${e.failure_count} failed`, detail }
  if (!over) return { tone: 'info', label: e.status, detail }
  if (missing) return { tone: 'warn', label: `${missing} not reported`, detail }
  if (e.skipped_count && !e.success_count) return { tone: 'warn', label: 'skipped', detail }
  if (e.target_count === 0) return { tone: 'muted', label: 'no targets', detail }
  return { tone: 'ok', label: 'ok', detail }
}
