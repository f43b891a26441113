// The schedule form as a view of the YAML: the form reads its fields from the text and each
// change is written back into the YAML document (comments and the keys the form does not
// show, such as rollout or constraints, stay). So the form and the YAML never disagree.

import { isMap, parseDocument, Scalar, YAMLMap, YAMLSeq, type Document } from 'yaml'

export type WhenKind = 'calendar' | 'cron' | 'per_pc' | 'per_target' | 'on'

export interface ScheduleForm {
  id: string
  job_id: string
  description: string
  enabled: boolean
  kind: WhenKind | null
  /** calendar: `HH:MM` or `YYYY-MM-DD HH:MM`, and its days (empty = daily). */
  at: string
  days: string[]
  cron: string
  /** per_pc/per_target: '' for once, else a duration. */
  every: string
  /** on: startup, logon. */
  events: string[]
  targetAll: boolean
  groups: string[]
  pcs: string[]
  /** A rollout names the target (its waves' groups); the form leaves `target` alone then. */
  hasRollout: boolean
  jitter: string
  tz: string
}

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']

export const DAY_PRESETS: { label: string; days: string[] }[] = [
  { label: 'every day', days: [] },
  { label: 'weekdays', days: ['mon-fri'] },
  { label: 'weekends', days: ['sat', 'sun'] },
  { label: 'first of the month', days: ['1'] },
  { label: 'last day of the month', days: ['last'] },
]

export const CRON_PRESETS: { label: string; cron: string }[] = [
  { label: 'every hour', cron: '0 * * * *' },
  { label: 'every 15 minutes', cron: '*/15 * * * *' },
  { label: 'daily at 03:00', cron: '0 3 * * *' },
  { label: 'weekdays at 08:00', cron: '0 8 * * 1-5' },
  { label: 'Mondays at 06:00', cron: '0 6 * * 1' },
  { label: 'monthly, the 1st at 02:00', cron: '0 2 1 * *' },
]

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v))
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : v === undefined || v === null || v === '' ? [] : [str(v)])

/** The form's fields, or null while the text is not a YAML mapping. */
export function readForm(text: string): ScheduleForm | null {
  const doc = parseDocument(text)
  if (doc.errors.length) return null
  const v = doc.toJS() as Record<string, unknown> | null
  if (text.trim() !== '' && (v === null || typeof v !== 'object' || Array.isArray(v))) return null
  const m = v ?? {}
  const when = (m.when && typeof m.when === 'object' ? m.when : {}) as Record<string, unknown>
  const kind = (Object.keys(when)[0] as WhenKind | undefined) ?? null
  const cal = (when.calendar && typeof when.calendar === 'object' ? when.calendar : {}) as Record<string, unknown>
  const rec = kind === 'per_pc' || kind === 'per_target' ? when[kind] : undefined
  const target = (m.target && typeof m.target === 'object' ? m.target : {}) as Record<string, unknown>
  return {
    id: str(m.id),
    job_id: str(m.job_id),
    description: str(m.description),
    enabled: m.enabled !== false,
    kind,
    at: str(cal.at),
    days: list(cal.days),
    cron: kind === 'cron' ? str(when.cron) : '',
    every: rec && typeof rec === 'object' ? str((rec as Record<string, unknown>).every) : '',
    events: kind === 'on' ? list(when.on) : [],
    targetAll: target.all === true,
    groups: list(target.groups),
    pcs: list(target.pcs),
    hasRollout: m.rollout !== undefined && m.rollout !== null,
    jitter: str(m.jitter),
    tz: str(m.tz),
  }
}

function quoted(value: string): Scalar {
  const s = new Scalar(value)
  s.type = Scalar.QUOTE_DOUBLE
  return s
}

function flowSeq(doc: Document, items: string[]): YAMLSeq {
  const seq = doc.createNode(items) as YAMLSeq
  seq.flow = true
  return seq
}

function setOrDelete(doc: Document, key: string, value: unknown) {
  if (value === '' || value === undefined || value === null) doc.delete(key)
  else doc.set(key, value)
}

/** The `when` of `form` as a YAML node. */
function whenNode(doc: Document, f: ScheduleForm): YAMLMap | null {
  const when = new YAMLMap()
  switch (f.kind) {
    case 'calendar': {
      const cal = new YAMLMap()
      cal.set('at', quoted(f.at || '03:00'))
      if (f.days.length) cal.set('days', flowSeq(doc, f.days))
      when.set('calendar', cal)
      break
    }
    case 'cron':
      when.set('cron', quoted(f.cron || '0 3 * * *'))
      break
    case 'per_pc':
    case 'per_target': {
      if (f.every.trim() === '') when.set(f.kind, 'once')
      else {
        const rec = new YAMLMap()
        rec.set('every', f.every.trim())
        when.set(f.kind, rec)
      }
      break
    }
    case 'on':
      when.set('on', flowSeq(doc, f.events.length ? f.events : ['startup']))
      break
    default:
      return null
  }
  return when
}

/** The text with `form`'s fields written in; what the form does not show stays as it was. */
export function writeForm(text: string, form: ScheduleForm): string {
  const doc = parseDocument(text.trim() === '' ? '{}' : text)
  if (doc.errors.length || !(isMap(doc.contents) || doc.contents === null)) return text
  if (doc.contents === null) doc.contents = new YAMLMap() as never
  const before = readForm(text)
  setOrDelete(doc, 'id', form.id)
  setOrDelete(doc, 'job_id', form.job_id)
  setOrDelete(doc, 'description', form.description)
  // `enabled` defaults to true: written only when off (or when it was there already).
  if (!form.enabled || doc.has('enabled')) doc.set('enabled', form.enabled)
  const same = before && before.kind === form.kind && before.at === form.at && before.days.join() === form.days.join() && before.cron === form.cron && before.every === form.every && before.events.join() === form.events.join()
  if (!same) {
    const when = whenNode(doc, form)
    if (when) doc.set('when', when)
    else doc.delete('when')
  }
  if (!form.hasRollout) {
    const sameTarget = before && before.targetAll === form.targetAll && before.groups.join() === form.groups.join() && before.pcs.join() === form.pcs.join()
    if (!sameTarget) {
      const target = new YAMLMap()
      target.flow = true
      if (form.targetAll) target.set('all', true)
      else {
        if (form.groups.length) target.set('groups', flowSeq(doc, form.groups))
        if (form.pcs.length) target.set('pcs', flowSeq(doc, form.pcs))
      }
      if (target.items.length) doc.set('target', target)
      else doc.delete('target')
    }
  }
  setOrDelete(doc, 'jitter', form.jitter.trim())
  setOrDelete(doc, 'tz', form.tz.trim())
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false })
}

/** "a, b ,c" → ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

/** Turns a weekday on or off in a calendar's days (ranges such as `mon-fri` are spelled out
 * first, so one day can leave them). */
export function toggleWeekday(days: string[], day: string): string[] {
  // No days is every day.
  const spelled = (days.length ? days : ['daily']).flatMap((d) => {
    const r = /^(mon|tue|wed|thu|fri|sat|sun)-(mon|tue|wed|thu|fri|sat|sun)$/.exec(d)
    if (d === 'weekdays') return WEEKDAYS.slice(0, 5)
    if (d === 'weekends') return ['sat', 'sun']
    if (d === 'daily') return [...WEEKDAYS]
    if (!r) return [d]
    const a = WEEKDAYS.indexOf(r[1])
    const b = WEEKDAYS.indexOf(r[2])
    return a <= b ? WEEKDAYS.slice(a, b + 1) : [...WEEKDAYS.slice(a), ...WEEKDAYS.slice(0, b + 1)]
  })
  const on = spelled.includes(day)
  const next = on ? spelled.filter((d) => d !== day) : [...spelled, day]
  const weekdays = WEEKDAYS.filter((d) => next.includes(d))
  const others = next.filter((d) => !WEEKDAYS.includes(d))
  if (weekdays.length === 7 && others.length === 0) return []
  if (weekdays.join() === 'mon,tue,wed,thu,fri' && others.length === 0) return ['mon-fri']
  return [...weekdays, ...others]
}

/** Whether a weekday is on in `days` (an empty list is every day). */
export function weekdayOn(days: string[], day: string): boolean {
  return days.length === 0 || spelledHas(days, day)
}

function spelledHas(days: string[], day: string): boolean {
  const i = WEEKDAYS.indexOf(day)
  return days.some((d) => {
    if (d === day || d === 'daily') return true
    if (d === 'weekdays') return i < 5
    if (d === 'weekends') return i >= 5
    const r = /^(mon|tue|wed|thu|fri|sat|sun)-(mon|tue|wed|thu|fri|sat|sun)$/.exec(d)
    if (!r) return false
    const a = WEEKDAYS.indexOf(r[1])
    const b = WEEKDAYS.indexOf(r[2])
    return a <= b ? i >= a && i <= b : i >= a || i <= b
  })
}
