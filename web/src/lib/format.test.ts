import { describe, expect, it } from 'vitest'
import { between, formatBytes, formatCountdown, formatDateTime, formatDuration, formatPct, formatRate, formatRelative, parseDuration } from './format'

describe('formatBytes', () => {
  it('uses binary units with sensible precision', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1024)).toBe('1.0 KiB')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(150 * 1024 * 1024)).toBe('150 MiB')
    expect(formatBytes(8 * 1024 ** 3)).toBe('8.0 GiB')
    expect(formatBytes(-2048)).toBe('-2.0 KiB')
  })
  it('shows a dash for missing values', () => {
    expect(formatBytes(null)).toBe('—')
    expect(formatBytes(undefined)).toBe('—')
    expect(formatBytes(Number.NaN)).toBe('—')
    expect(formatRate(2048)).toBe('2.0 KiB/s')
    expect(formatRate(null)).toBe('—')
  })
})

describe('formatDuration', () => {
  it('picks the two largest units', () => {
    expect(formatDuration(350)).toBe('350 ms')
    expect(formatDuration(1500)).toBe('1.5 s')
    expect(formatDuration(45_000)).toBe('45 s')
    expect(formatDuration(65_000)).toBe('1 min 5 s')
    expect(formatDuration(120_000)).toBe('2 min')
    expect(formatDuration(2 * 3600_000 + 3 * 60_000 + 9000)).toBe('2 h 3 min')
    expect(formatDuration(3600_000)).toBe('1 h')
    expect(formatDuration(3 * 86400_000 + 4 * 3600_000)).toBe('3 d 4 h')
    expect(formatDuration(null)).toBe('—')
  })
  it('measures between two instants', () => {
    expect(between('2026-01-01T00:00:00Z', '2026-01-01T00:00:02.5Z')).toBe(2500)
    expect(between(null, '2026-01-01T00:00:00Z')).toBeNull()
  })
})

describe('formatRelative', () => {
  const now = Date.parse('2026-11-27T12:00:00Z')
  it('says how long ago or how soon', () => {
    expect(formatRelative('2026-11-27T11:59:55Z', now)).toBe('just now')
    expect(formatRelative('2026-11-27T11:59:15Z', now)).toBe('45 s ago')
    expect(formatRelative('2026-11-27T11:55:00Z', now)).toBe('5 min ago')
    expect(formatRelative('2026-11-27T09:00:00Z', now)).toBe('3 h ago')
    expect(formatRelative('2026-11-25T12:00:00Z', now)).toBe('2 d ago')
    expect(formatRelative('2026-11-27T12:05:00Z', now)).toBe('in 5 min')
  })
  it('falls back to a date far away, and a dash for nothing', () => {
    expect(formatRelative('2026-01-01T12:00:00Z', now)).toMatch(/^2026-01-0[12]$/)
    expect(formatRelative(null, now)).toBe('—')
    expect(formatRelative('not a date', now)).toBe('—')
  })
  it('formats absolute local times', () => {
    const local = new Date(2026, 10, 27, 9, 5, 7).getTime()
    expect(formatDateTime(local)).toBe('2026-11-27 09:05:07')
    expect(formatPct(12.345)).toBe('12.3 %')
  })
})

describe('parseDuration', () => {
  it('reads what the server accepts', () => {
    expect(parseDuration('90')).toBe(90)
    expect(parseDuration('30s')).toBe(30)
    expect(parseDuration('5m')).toBe(300)
    expect(parseDuration('1h 30m')).toBe(5400)
    expect(parseDuration('1h30m')).toBe(5400)
    expect(parseDuration('2d')).toBe(172800)
  })
  it('refuses the rest', () => {
    expect(parseDuration('')).toBeNull()
    expect(parseDuration('soon')).toBeNull()
    expect(parseDuration('5 minutes')).toBeNull()
    expect(parseDuration('5m x')).toBeNull()
  })
})

describe('formatCountdown', () => {
  const now = Date.parse('2026-11-27T12:00:00Z')
  it('counts down minutes and seconds, hours when there are some', () => {
    expect(formatCountdown('2026-11-27T12:15:00Z', now)).toBe('15:00')
    expect(formatCountdown('2026-11-27T12:04:05Z', now)).toBe('4:05')
    expect(formatCountdown('2026-11-27T12:00:09Z', now)).toBe('0:09')
    expect(formatCountdown('2026-11-27T13:02:03Z', now)).toBe('1:02:03')
    expect(formatCountdown('2026-11-27T16:00:00Z', now)).toBe('4:00:00')
  })
  it('rounds part seconds up, stops at zero, and shows a dash for nothing', () => {
    expect(formatCountdown(now + 500, now)).toBe('0:01')
    expect(formatCountdown('2026-11-27T11:00:00Z', now)).toBe('0:00')
    expect(formatCountdown(null, now)).toBe('—')
  })
})
