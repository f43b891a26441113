// Inventory facts as a person reads them: each value through its manifest `display` hint
// (`type: number | bytes | timestamp | table`), which jobs collect facts at all, and saved
// searches as the query string the Search view keeps in its URL.

import { formatBytes, formatDateTime } from './format'
import type { Condition } from './search'
import { conditionParams, parseConditions } from './search'

export interface DisplayHint {
  field: string
  label?: string | null
  type?: string | null
  columns?: DisplayHint[]
}

const DASH = '—'

/** The value at a dotted path of an object ("os.name"). */
export function pick(obj: unknown, path: string): unknown {
  let cur = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

function asNumber(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return null
}

/** One scalar as its hint says: bytes "1.5 GiB", numbers with separators, timestamps local;
 * a value that does not fit its type is shown as it is. */
export function formatFact(v: unknown, type?: string | null): string {
  if (v === null || v === undefined || v === '') return DASH
  const n = asNumber(v)
  if (type === 'bytes' && n !== null) return formatBytes(n)
  if (type === 'number' && n !== null) return n.toLocaleString('en-US', { maximumFractionDigits: 2 })
  if (type === 'timestamp') {
    // Seconds or milliseconds since the epoch, or a date string.
    const ms = n !== null ? (n < 1e12 ? n * 1000 : n) : typeof v === 'string' ? Date.parse(v) : NaN
    if (Number.isFinite(ms)) return formatDateTime(ms)
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  if (typeof v === 'object') return Array.isArray(v) ? v.map((x) => formatFact(x)).join(', ') : JSON.stringify(v)
  return String(v)
}

/** The sort/export value of a fact: numbers stay numbers (bytes sort by size), lists are
 * counted, objects are JSON. */
export function factValue(v: unknown, type?: string | null): string | number | boolean | null {
  if (v === null || v === undefined) return null
  if (type === 'table') return Array.isArray(v) ? v.length : null
  if ((type === 'bytes' || type === 'number') && asNumber(v) !== null) return asNumber(v)
  if (typeof v === 'object') return JSON.stringify(v)
  return v as string | number | boolean
}

/** The rows of a `type: table` fact: a list of objects; a single object is one row. */
export function tableRows(v: unknown): Record<string, unknown>[] {
  const items = Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : []
  return items.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x))
}

/** The columns of a nested table: its hint's, else the keys its rows carry. */
export function tableColumns(hint: DisplayHint, rows: Record<string, unknown>[]): DisplayHint[] {
  if (hint.columns?.length) return hint.columns
  const keys: string[] = []
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k)
  return keys.map((field) => ({ field }))
}

/** The header of a field: its label, else the last part of its path. */
export function factLabel(hint: DisplayHint): string {
  return hint.label || hint.field.split('.').pop() || hint.field
}

/** Whether a job's manifest collects facts: it has an `inventory` hint. */
export function collectsFacts(manifest: Record<string, unknown> | undefined): boolean {
  const inv = manifest?.inventory
  return !!inv && typeof inv === 'object' && !Array.isArray(inv)
}

/** A saved search's query: `table=…&column__op=value…` (no paging). */
export function savedQuery(table: string, conditions: Condition[]): string {
  const sp = new URLSearchParams()
  sp.set('table', table)
  for (const [k, v] of conditionParams(conditions)) sp.append(k, v)
  return sp.toString()
}

/** Where a saved query leads: its table and the conditions (the Search view's `where`). */
export function openSaved(query: string): { table: string; where: string } {
  const sp = new URLSearchParams(query.replace(/^\?/, ''))
  const table = sp.get('table') ?? ''
  return { table, where: conditionParams(parseConditions(sp.toString())).toString() }
}

/** Columns for facts whose job has no `display` hint: the top-level keys the machines report
 * (first seen first, at most `max`); lists of objects become nested tables. */
export function inferHints(facts: unknown[], max = 12): DisplayHint[] {
  const out: DisplayHint[] = []
  for (const f of facts) {
    if (!f || typeof f !== 'object' || Array.isArray(f)) continue
    for (const [key, v] of Object.entries(f as Record<string, unknown>)) {
      if (out.some((h) => h.field === key)) continue
      if (out.length >= max) return out
      out.push(Array.isArray(v) && v.some((x) => x && typeof x === 'object') ? { field: key, type: 'table' } : { field: key })
    }
  }
  return out
}

/** The display types of an explode table's columns, from the `type: table` display field of the
 * same list (so a searched `free` column shows as a size when the job displays it so). */
export function columnTypes(display: DisplayHint[] | undefined, listField: string): Record<string, string> {
  const hint = display?.find((d) => d.field === listField && d.type === 'table')
  const out: Record<string, string> = {}
  for (const c of hint?.columns ?? []) if (c.type) out[c.field] = c.type
  return out
}
