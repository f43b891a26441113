// The agent list's host columns (uptime, load) and its bulk actions: a group name checked as
// the API checks it, and one request per machine with a few in flight at a time.

import { formatDuration } from './format'

const DASH = '—'

/** Uptime as of the last heartbeat, grown by the time since then for a machine still online:
 * "3 d 4 h". */
export function formatUptime(secs: number | null | undefined, lastHeartbeat?: string, online = false, now = Date.now()): string {
  if (typeof secs !== 'number' || !Number.isFinite(secs) || secs < 0) return DASH
  const since = online && lastHeartbeat ? Math.max(0, now - Date.parse(lastHeartbeat)) : 0
  return formatDuration(secs * 1000 + (Number.isFinite(since) ? since : 0))
}

/** The 1/5/15 minute load average: "0.42 0.30 0.25". */
export function formatLoad(load: number[] | null | undefined): string {
  if (!load || load.length === 0 || !load.every((n) => Number.isFinite(n))) return DASH
  return load.map((n) => n.toFixed(2)).join(' ')
}

/** Why a group name would be refused, or null: letters, digits, '-' and '_' (a subject token). */
export function groupNameProblem(name: string): string | null {
  const n = name.trim()
  if (!n) return 'name the group'
  if (n.length > 64) return 'at most 64 characters'
  if (!/^[A-Za-z0-9_-]+$/.test(n)) return `"${n}" is not a group name (letters, digits, '-' and '_')`
  return null
}

export interface Outcome<T, R = unknown> {
  item: T
  ok: boolean
  /** What the work answered, when it went well. */
  value?: R
  error?: string
}

/** Runs `work` on every item, at most `limit` at once, and says how each went (in order). */
export async function eachLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<Outcome<T, R>[]> {
  const out: Outcome<T, R>[] = new Array(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const i = next++
      try {
        out[i] = { item: items[i], ok: true, value: await work(items[i]) }
      } catch (e) {
        out[i] = { item: items[i], ok: false, error: e instanceof Error ? e.message : String(e) }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane))
  return out
}

/** "3 of 4 done; pc-9: not found" — one line about a bulk action. */
export function summarize<T, R>(outcomes: Outcome<T, R>[], name: (item: T) => string, verb = 'done'): string {
  const ok = outcomes.filter((o) => o.ok).length
  const failed = outcomes.filter((o) => !o.ok)
  const head = failed.length === 0 ? `${ok} ${verb}` : `${ok} of ${outcomes.length} ${verb}`
  if (failed.length === 0) return head
  const shown = failed.slice(0, 3).map((o) => `${name(o.item)}: ${o.error ?? 'failed'}`)
  const more = failed.length > 3 ? `; ${failed.length - 3} more failed` : ''
  return `${head}; ${shown.join('; ')}${more}`
}
