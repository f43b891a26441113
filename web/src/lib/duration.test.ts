import { describe, expect, it } from 'vitest'
import { checkDurationValue, MAX_DURATION_SECS, parseDuration } from './duration'
import { checkManifest, checkSchedule } from './yamlcheck'

const secs = (t: string) => {
  const p = parseDuration(t)
  return p.ok ? p.secs : p.error
}

describe('parseDuration (the server grammar)', () => {
  it('reads the forms operators write', () => {
    expect(secs('30s')).toBe(30)
    expect(secs('5m')).toBe(300)
    expect(secs('1h 30m')).toBe(5400)
    expect(secs('1h30m')).toBe(5400)
    expect(secs('45')).toBe(45)
    expect(secs('+45')).toBe(45)
    expect(secs(' 2days ')).toBe(172_800)
    expect(secs('1.5h')).toBe(5400)
    expect(secs('250ms')).toBe(0.25)
    expect(secs('2 weeks')).toBe(1_209_600)
    expect(secs('1M')).toBe(2_630_016)
    expect(secs('1y')).toBe(31_557_600)
    expect(secs('0')).toBe(0)
  })

  it('names what is wrong with text that is not a duration', () => {
    for (const bad of ['soon', '5 minutes later', '5x', '-3s', '1.s', '.5s', '5m,', '', '1h 30']) {
      const p = parseDuration(bad)
      expect(p.ok, bad).toBe(false)
      if (!p.ok) {
        expect(p.outOfRange, bad).toBe(false)
        expect(p.error, bad).toMatch(/is not a duration/)
      }
    }
    const p = parseDuration('5 mins later')
    expect(!p.ok && p.error).toContain('`5 mins later`')
    const u = parseDuration('5x')
    expect(!u.ok && u.error).toContain('unknown time unit `x`')
  })

  it('caps every duration at 3650 days', () => {
    expect(secs('3650days')).toBe(MAX_DURATION_SECS)
    expect(secs(String(MAX_DURATION_SECS))).toBe(MAX_DURATION_SECS)
    for (const big of ['3651days', '4000days', '11y', String(MAX_DURATION_SECS + 1), '18446744073709551615', '99999999999999999999999s', '1e20']) {
      const p = parseDuration(big)
      if (big === '1e20') {
        // `1e20` as text is not a number+unit group (a JSON number 1e20 is out of range).
        expect(p.ok).toBe(false)
        continue
      }
      expect(p.ok, big).toBe(false)
      expect(!p.ok && p.outOfRange, big).toBe(true)
      expect(!p.ok && p.error, big).toMatch(/more than the maximum of 3650 days/)
    }
  })

  it('refuses what the server cannot represent exactly', () => {
    // A fraction of a nanosecond, and a fraction of an hour that is not whole seconds.
    expect(parseDuration('1.5ns').ok).toBe(false)
    expect(parseDuration('0.0001h').ok).toBe(false)
    expect(secs('0.5h')).toBe(1800)
  })
})

describe('checkDurationValue (a YAML value)', () => {
  it('takes a number of seconds or a duration string', () => {
    expect(checkDurationValue(30)).toBeNull()
    expect(checkDurationValue('5m')).toBeNull()
    expect(checkDurationValue(1e20)).toMatch(/3650 days/)
    expect(checkDurationValue(-1)).toMatch(/non-negative/)
    expect(checkDurationValue('soon')).toMatch(/not a duration/)
    expect(checkDurationValue(true)).toMatch(/a duration such as/)
  })
})

describe('the YAML editors flag a bad duration at its line', () => {
  it('in a job manifest', () => {
    const text = 'id: x\nversion: 1\nexecute:\n  shell: sh\n  script: echo\n  timeout: 5 minuets\n'
    const p = checkManifest(text)
    expect(p).toHaveLength(1)
    expect(p[0]).toMatchObject({ field: 'execute.timeout', line: 6 })
    expect(p[0].message).toMatch(/not a duration/)
    expect(checkManifest(text.replace('5 minuets', '4000days'))[0].message).toMatch(/3650 days/)
    expect(checkManifest(text.replace('5 minuets', '5 minutes'))).toEqual([])
  })

  it('in a schedule, wherever a duration goes', () => {
    const text = [
      'id: s',
      'job_id: j',
      'when: {per_pc: {every: 12hours}}',
      'jitter: 5mins',
      'rollout:',
      '  waves:',
      '    - {group: a}',
      '    - {group: b, delay: 1 hour}',
      'on_failure: {retry: {max: 2, backoff: 1m}}',
    ].join('\n')
    expect(checkSchedule(text)).toEqual([])
    const bad = text.replace('12hours', '12 hourz').replace('1 hour', '11y').replace('5mins', 'soon')
    const fields = checkSchedule(bad).map((p) => [p.field, p.line])
    expect(fields).toEqual([
      ['jitter', 4],
      ['when.per_pc.every', 3],
      ['rollout.waves[1].delay', 8],
    ])
  })
})
