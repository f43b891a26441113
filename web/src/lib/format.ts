// Formatting of numbers, sizes, durations and times for display. Pure functions: every one
// takes what it needs (including "now") so they are testable.

const DASH = '—'

function isNum(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n)
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** 1536 → "1.5 KiB"; binary units, one decimal below 100, none above. */
export function formatBytes(n: number | null | undefined): string {
  if (!isNum(n)) return DASH
  const sign = n < 0 ? '-' : ''
  let v = Math.abs(n)
  let unit = 0
  while (v >= 1024 && unit < BYTE_UNITS.length - 1) {
    v /= 1024
    unit++
  }
  if (unit === 0) return `${sign}${Math.round(v)} B`
  const digits = v >= 100 ? 0 : 1
  return `${sign}${v.toFixed(digits)} ${BYTE_UNITS[unit]}`
}

export function formatRate(bytesPerSec: number | null | undefined): string {
  return isNum(bytesPerSec) ? `${formatBytes(bytesPerSec)}/s` : DASH
}

/** A span of milliseconds: "350 ms", "45 s", "1 min 5 s", "2 h 3 min", "3 d 4 h". */
export function formatDuration(ms: number | null | undefined): string {
  if (!isNum(ms)) return DASH
  if (ms < 0) return `-${formatDuration(-ms)}`
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) {
    const precise = ms / 1000
    return s < 10 && Math.round(precise * 10) % 10 !== 0 ? `${precise.toFixed(1)} s` : `${s} s`
  }
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`
  return sec > 0 ? `${m} min ${sec} s` : `${m} min`
}

export type TimeInput = string | number | Date | null | undefined

export function toMillis(t: TimeInput): number | null {
  if (t === null || t === undefined || t === '') return null
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t)
  return Number.isFinite(ms) ? ms : null
}

/** "just now", "45 s ago", "5 min ago", "3 h ago", "2 d ago", "in 5 min"; dates past 30 days. */
export function formatRelative(t: TimeInput, now: number = Date.now()): string {
  const ms = toMillis(t)
  if (ms === null) return DASH
  const diff = now - ms
  const abs = Math.abs(diff)
  if (abs < 10_000) return 'just now'
  let text: string
  if (abs < 60_000) text = `${Math.floor(abs / 1000)} s`
  else if (abs < 3_600_000) text = `${Math.floor(abs / 60_000)} min`
  else if (abs < 86_400_000) text = `${Math.floor(abs / 3_600_000)} h`
  else if (abs < 30 * 86_400_000) text = `${Math.floor(abs / 86_400_000)} d`
  else return formatDate(ms)
  return diff >= 0 ? `${text} ago` : `in ${text}`
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** Local "YYYY-MM-DD". */
export function formatDate(t: TimeInput): string {
  const ms = toMillis(t)
  if (ms === null) return DASH
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** Local "YYYY-MM-DD HH:MM:SS". */
export function formatDateTime(t: TimeInput): string {
  const ms = toMillis(t)
  if (ms === null) return DASH
  const d = new Date(ms)
  return `${formatDate(ms)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export function formatPct(n: number | null | undefined, digits = 1): string {
  return isNum(n) ? `${n.toFixed(digits)} %` : DASH
}

/** Milliseconds between two instants, or null when either is missing. */
export function between(from: TimeInput, to: TimeInput): number | null {
  const a = toMillis(from)
  const b = toMillis(to)
  return a === null || b === null ? null : b - a
}

/** Parses "90", "30s", "5m", "1h30m", "2d" into seconds; null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const t = text.trim()
  if (t === '') return null
  if (/^\d+$/.test(t)) return Number(t)
  const re = /(\d+)\s*(ms|s|m|h|d)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(t)) !== null) {
    const n = Number(m[1])
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n * 86400
    matched = re.lastIndex
    while (t[re.lastIndex] === ' ') re.lastIndex++
  }
  return matched === t.length ? total : null
}

/** Time left until `until` as a clock: "4:05" under an hour, "1:02:03" above, "0:00" once past. */
export function formatCountdown(until: TimeInput, now: number = Date.now()): string {
  const ms = toMillis(until)
  if (ms === null) return DASH
  const left = Math.max(0, Math.ceil((ms - now) / 1000))
  const h = Math.floor(left / 3600)
  const m = Math.floor((left % 3600) / 60)
  const s = left % 60
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`
}
