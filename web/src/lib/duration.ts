// The duration grammar of kanade_protocol::duration (HumanDuration), so the editors flag a bad
// duration as it is typed instead of at Save: a bare number of seconds, or number+unit groups
// ("30s", "5m", "1h 30m", "1.5h", "2days"), at most 3650 days. Units and the fraction rules are
// humantime's, which the server parses with.

/** The longest duration any field accepts: 3650 days, in seconds. */
export const MAX_DURATION_SECS = 3650 * 24 * 3600

export type DurationParse = { ok: true; secs: number } | { ok: false; error: string; outOfRange: boolean }

const NS = 1_000_000_000n
const U64_MAX = (1n << 64n) - 1n
const MAX_NS = BigInt(MAX_DURATION_SECS) * NS

// Nanoseconds per unit, by every name the server reads.
const UNITS: Record<string, bigint> = {}
const unit = (ns: bigint, ...names: string[]) => names.forEach((n) => (UNITS[n] = ns))
unit(1n, 'nanos', 'nsec', 'ns')
unit(1_000n, 'usec', 'us', 'µs')
unit(1_000_000n, 'millis', 'msec', 'ms')
unit(NS, 'seconds', 'second', 'secs', 'sec', 's')
unit(60n * NS, 'minutes', 'minute', 'min', 'mins', 'm')
unit(3600n * NS, 'hours', 'hour', 'hr', 'hrs', 'h')
unit(86_400n * NS, 'days', 'day', 'd')
unit(7n * 86_400n * NS, 'weeks', 'week', 'wk', 'wks', 'w')
unit(2_630_016n * NS, 'months', 'month', 'M')
unit(31_557_600n * NS, 'years', 'year', 'yr', 'yrs', 'y')

class Overflow extends Error {}

function shown(text: string): string {
  return `\`${[...text].slice(0, 40).join('')}\``
}

function outOfRange(text: string): DurationParse {
  return { ok: false, outOfRange: true, error: `${shown(text)} is more than the maximum of 3650 days` }
}

function notDuration(text: string, why: string): DurationParse {
  return { ok: false, outOfRange: false, error: `${shown(text)} is not a duration (${why}); write e.g. 30s, 5m or 1h` }
}

const isDigit = (c: string) => c >= '0' && c <= '9'
const isLetter = (c: string) => /^[a-zA-Zµ]$/.test(c)
const isSpace = (c: string) => /^\s$/u.test(c)

/** humantime's parser: `<number>[.<fraction>] <unit>` groups, spaces allowed between. The sum
 * in nanoseconds, or a reason. Overflow of the server's 64-bit counters throws `Overflow`. */
function humantime(s: string): bigint | string {
  const chars = [...s]
  let i = 0
  let total = 0n
  const skipSpace = () => {
    while (i < chars.length && isSpace(chars[i])) i++
  }
  skipSpace()
  if (i >= chars.length) return 'value was empty'
  while (i < chars.length) {
    if (!isDigit(chars[i])) return 'expected a number'
    let n = 0n
    while (i < chars.length && (isDigit(chars[i]) || isSpace(chars[i]))) {
      if (isDigit(chars[i])) {
        n = n * 10n + BigInt(chars[i])
        if (n > U64_MAX) throw new Overflow()
      }
      i++
    }
    let num = 0n
    let den = 1n
    const fraction = chars[i] === '.'
    if (fraction) {
      i++
      while (i < chars.length && (isDigit(chars[i]) || isSpace(chars[i]))) {
        if (isDigit(chars[i])) {
          num = num * 10n + BigInt(chars[i])
          den *= 10n
          if (den > U64_MAX) throw new Overflow()
        }
        i++
      }
      if (den === 1n) return 'no digits after the decimal point'
    }
    if (i < chars.length && !isLetter(chars[i])) return `invalid character \`${chars[i]}\``
    let name = ''
    while (i < chars.length && isLetter(chars[i])) name += chars[i++]
    if (name === '') return `time unit needed, for example ${n}sec or ${n}ms`
    const per = UNITS[name]
    if (per === undefined) return `unknown time unit \`${name}\`; use s, m, h, d, w…`
    total += n * per
    if (fraction) {
      // Below a nanosecond cannot be represented (the server says "out of range" too).
      if (per === 1n) throw new Overflow()
      // The server keeps whole nanoseconds (below a second) or whole seconds (hours and up).
      const step = per >= 3600n * NS ? NS : 1n
      const part = num * (per / step)
      if (part % den !== 0n) throw new Overflow()
      total += (part / den) * step
    }
    if (total > U64_MAX * NS) throw new Overflow()
    if (i < chars.length && !isSpace(chars[i]) && !isDigit(chars[i])) return `invalid character \`${chars[i]}\``
    skipSpace()
  }
  return total
}

/** Parses a duration as the server does; `secs` may be fractional (`1.5s`). */
export function parseDuration(text: string): DurationParse {
  const t = text.trim()
  // Rust's u64 parse takes a leading '+'.
  if (/^\+?\d+$/.test(t)) {
    const secs = BigInt(t)
    return secs * NS > MAX_NS ? outOfRange(text) : { ok: true, secs: Number(secs) }
  }
  if (t === '0') return { ok: true, secs: 0 }
  let ns: bigint | string
  try {
    ns = humantime(t)
  } catch (e) {
    if (e instanceof Overflow) return outOfRange(text)
    throw e
  }
  if (typeof ns === 'string') return notDuration(text, ns)
  if (ns > MAX_NS) return outOfRange(text)
  return { ok: true, secs: Number(ns) / 1e9 }
}

/** A YAML/JSON value where a duration goes: a number of seconds or a duration string. */
export function checkDurationValue(value: unknown): string | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return 'a duration must be a non-negative number'
    return value > MAX_DURATION_SECS ? `${value} seconds is more than the maximum of 3650 days` : null
  }
  if (typeof value === 'string') {
    const p = parseDuration(value)
    return p.ok ? null : p.error
  }
  return 'a duration such as 30s, 5m or 1h, or a number of seconds'
}
