// The layered agent config as the forms see it: each field's type, turning what is typed into
// the JSON value the API takes (and back), the PATCH body of an edited scope, scope names, and
// investigation mode. Pure functions, so they are testable.

import type { ConfigScope, EffectiveConfigView } from '../api/types'
import { parseDuration } from './duration'
import { toMillis } from './format'

export type FieldKind = 'duration' | 'bool' | 'count' | 'time' | 'text' | 'choice'

export interface ConfigField {
  name: keyof ConfigScope
  kind: FieldKind
  about: string
  /** The values a `choice` field takes. */
  choices?: string[]
}

/** Every field of a scope, in the server's display order. */
export const CONFIG_FIELDS: ConfigField[] = [
  { name: 'heartbeat_interval', kind: 'duration', about: 'how often agents report in' },
  { name: 'host_perf_interval', kind: 'duration', about: 'how often host CPU, memory, disk and network are sampled' },
  { name: 'process_perf_enabled', kind: 'bool', about: 'investigation mode: per-process samples (ends at the expiry)' },
  { name: 'process_perf_expires_at', kind: 'time', about: 'when investigation mode ends by itself' },
  { name: 'process_perf_interval', kind: 'duration', about: 'how often processes are sampled while investigating' },
  { name: 'process_perf_top_n', kind: 'count', about: 'how many of the busiest processes each sample keeps' },
  { name: 'max_local_concurrent', kind: 'count', about: 'how many jobs an agent runs at once' },
  { name: 'target_version', kind: 'text', about: 'the agent version to update to (a published release)' },
  { name: 'target_version_jitter', kind: 'duration', about: 'spreads the update over this long' },
  { name: 'command_signatures', kind: 'choice', choices: ['enforce', 'report'], about: 'unsigned or badly signed commands: refused (enforce) or run and reported' },
  { name: 'terminal', kind: 'choice', choices: ['allow', 'consent', 'deny'], about: 'remote terminals: allowed, only once the signed-in user accepts, or never' },
  { name: 'terminal_consent_timeout', kind: 'duration', about: 'how long a terminal waits for the user to accept' },
  { name: 'terminal_idle_timeout', kind: 'duration', about: 'a terminal session without input this long is closed (1s to 24h)' },
]

export function fieldOf(name: string): ConfigField | undefined {
  return CONFIG_FIELDS.find((f) => f.name === name)
}

export type ConfigValue = string | number | boolean

export type Parsed = { ok: true; value: ConfigValue | null } | { ok: false; error: string }

const MAX_U32 = 4_294_967_295

/** Typed text → the value to send; empty text means "unset" (`null`). */
export function parseFieldValue(kind: FieldKind, text: string): Parsed {
  const t = text.trim()
  if (t === '') return { ok: true, value: null }
  switch (kind) {
    case 'duration': {
      // The server's grammar and its 3650-day cap, checked as it is typed.
      const d = parseDuration(t)
      if (!d.ok) return { ok: false, error: d.error }
      return /^\d+$/.test(t) ? { ok: true, value: Number(t) } : { ok: true, value: t }
    }
    case 'count': {
      const n = /^\d+$/.test(t) ? Number(t) : NaN
      return Number.isSafeInteger(n) && n <= MAX_U32 ? { ok: true, value: n } : { ok: false, error: `a whole number from 0 to ${MAX_U32}` }
    }
    case 'bool':
      return t === 'true' || t === 'false' ? { ok: true, value: t === 'true' } : { ok: false, error: 'true or false' }
    case 'time': {
      const ms = Date.parse(t)
      return Number.isFinite(ms) ? { ok: true, value: new Date(ms).toISOString() } : { ok: false, error: 'a date and time' }
    }
    case 'text':
    case 'choice':
      return { ok: true, value: t }
  }
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** A time as a `datetime-local` input shows it: local "YYYY-MM-DDTHH:MM". */
export function localInputTime(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** A value from the API → the text its input starts with ('' when unset). */
export function fieldText(kind: FieldKind, value: unknown): string {
  if (value === null || value === undefined) return ''
  if (kind === 'time') {
    const ms = toMillis(value as string)
    return ms === null ? String(value) : localInputTime(ms)
  }
  return String(value)
}

/** The start texts of every field of a scope. */
export function scopeTexts(scope: ConfigScope | undefined): Record<string, string> {
  return Object.fromEntries(CONFIG_FIELDS.map((f) => [f.name, fieldText(f.kind, scope?.[f.name])]))
}

export interface ScopeEdit {
  /** Only the fields whose text changed: a value sets, `null` unsets. */
  patch: Record<string, ConfigValue | null>
  /** Field → what is wrong with its text. */
  errors: Record<string, string>
}

/** The PATCH body for the texts that differ from what the scope holds. */
export function scopePatch(scope: ConfigScope | undefined, texts: Record<string, string>): ScopeEdit {
  const patch: Record<string, ConfigValue | null> = {}
  const errors: Record<string, string> = {}
  for (const f of CONFIG_FIELDS) {
    const text = texts[f.name]
    if (text === undefined || text.trim() === fieldText(f.kind, scope?.[f.name]).trim()) continue
    const parsed = parseFieldValue(f.kind, text)
    if (parsed.ok) patch[f.name] = parsed.value
    else errors[f.name] = parsed.error
  }
  return { patch, errors }
}

/** The config field a server error names: `process_perf_top_n` or a path under it. */
export function errorField(field: string | null | undefined): string | null {
  if (!field) return null
  const head = field.replace(/^\./, '').split(/[.[]/)[0]
  return fieldOf(head) ? head : null
}

/** A value for reading: times local, booleans yes/no, nothing as a dash. */
export function showValue(name: string, value: unknown): string {
  if (value === null || value === undefined || value === '') return '—'
  const f = fieldOf(name)
  if (f?.kind === 'bool') return value ? 'yes' : 'no'
  if (f?.kind === 'time') {
    const ms = toMillis(value as string)
    if (ms !== null) return localInputTime(ms).replace('T', ' ')
  }
  return String(value)
}

// ---- scopes ----

export type ScopeKind = 'global' | 'group' | 'pc'

export interface ScopeRef {
  kind: ScopeKind
  name: string
}

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/

/** Group and machine names: letters, digits, '-' and '_'. */
export function isToken(s: string): boolean {
  return TOKEN.test(s)
}

/** `global`, `groups.<g>`, `pcs.<id>` (also the short `group.`/`pc.` forms) → a scope. */
export function parseScope(key: string): ScopeRef | null {
  if (key === 'global') return { kind: 'global', name: '' }
  const dot = key.indexOf('.')
  if (dot < 0) return null
  const kind = key.slice(0, dot)
  const name = key.slice(dot + 1)
  if (!isToken(name)) return null
  if (kind === 'groups' || kind === 'group') return { kind: 'group', name }
  if (kind === 'pcs' || kind === 'pc') return { kind: 'pc', name }
  return null
}

/** The scope key the API takes, or null while the name is missing or invalid. */
export function scopeKey(ref: ScopeRef): string | null {
  if (ref.kind === 'global') return 'global'
  if (!isToken(ref.name)) return null
  return `${ref.kind === 'group' ? 'groups' : 'pcs'}.${ref.name}`
}

/** How a scope reads in a sentence: "global", "group web", "machine pc-01", "built-in default". */
export function scopeLabel(key: string): string {
  if (key === 'default') return 'built-in default'
  const ref = parseScope(key)
  if (!ref) return key
  return ref.kind === 'global' ? 'global' : `${ref.kind === 'group' ? 'group' : 'machine'} ${ref.name}`
}

// ---- investigation mode ----

export const INVESTIGATION_DURATIONS: { label: string; ms: number }[] = [
  { label: '15 min', ms: 15 * 60_000 },
  { label: '1 h', ms: 3600_000 },
  { label: '4 h', ms: 4 * 3600_000 },
]

/** The PATCH of `pcs.<id>` that turns investigation mode on for `ms` from `now`. */
export function startInvestigation(now: number, ms: number): ConfigScope {
  return { process_perf_enabled: true, process_perf_expires_at: new Date(now + ms).toISOString(), process_perf_interval: '10s' }
}

/** The PATCH of `pcs.<id>` that turns it off again (the machine's own settings are removed). */
export const STOP_INVESTIGATION = { process_perf_enabled: null, process_perf_expires_at: null } as const

/** When investigation mode ends (ms), or null when it is not on at `now`. Like the agent: on
 * only while enabled and the expiry lies ahead; no expiry means off. */
export function investigationEnds(view: EffectiveConfigView | undefined, now: number): number | null {
  if (!view?.effective.process_perf_enabled) return null
  const until = toMillis(view.effective.process_perf_expires_at)
  return until !== null && until > now ? until : null
}

/** The scope a field's effective value came from. */
export function sourceOf(view: EffectiveConfigView | undefined, field: string): string | undefined {
  return view?.sources.find((s) => s.field === field)?.scope
}
