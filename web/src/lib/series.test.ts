import { describe, expect, it } from 'vitest'
import { BYTE_INCRS, axisWidth, breakGaps, downsample, maxOf, presetRange, toColumns, type Columns } from './series'

describe('toColumns', () => {
  it('turns points into uPlot columns with nulls for missing values', () => {
    const pts = [
      { at: '2026-01-01T00:00:00Z', cpu: 1, mem: 5 },
      { at: '2026-01-01T00:01:00Z', cpu: Number.NaN, mem: 6 },
    ]
    const cols = toColumns(pts, (p) => Date.parse(p.at) / 1000, [(p) => p.cpu, (p) => p.mem])
    expect(cols).toEqual([[1767225600, 1767225660], [1, null], [5, 6]])
  })
})

describe('breakGaps', () => {
  it('inserts a null after a gap longer than 1.5 steps', () => {
    const data: Columns = [[0, 60, 120, 600, 660], [1, 2, 3, 4, 5]]
    expect(breakGaps(data, 60)).toEqual([[0, 60, 120, 180, 600, 660], [1, 2, 3, null, 4, 5]])
  })
  it('leaves regular series alone', () => {
    const data: Columns = [[0, 60, 120], [1, 2, 3]]
    expect(breakGaps(data, 60)).toEqual(data)
    expect(breakGaps(data, 0)).toBe(data)
  })
})

describe('downsample', () => {
  it('keeps short series as they are', () => {
    const data: Columns = [[1, 2, 3], [1, 2, 3]]
    expect(downsample(data, 10)).toBe(data)
  })
  it('averages buckets and ignores nulls', () => {
    const data: Columns = [[0, 1, 2, 3, 4, 5], [1, 3, null, null, 10, 20], [0, 0, 0, 0, 0, 0]]
    expect(downsample(data, 3)).toEqual([[0, 2, 4], [2, null, 15], [0, 0, 0]])
  })
  it('never returns more than max points', () => {
    const n = 1000
    const data: Columns = [Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => i)]
    const out = downsample(data, 333)
    expect(out[0].length).toBeLessThanOrEqual(333)
    expect(out[0][0]).toBe(0)
  })
})

describe('ranges', () => {
  it('computes preset windows and maxima', () => {
    const now = Date.parse('2026-11-27T12:00:00Z')
    expect(presetRange('1h', now)).toEqual({ from: '2026-11-27T11:00:00.000Z', to: '2026-11-27T12:00:00.000Z' })
    expect(presetRange('7d', now).from).toBe('2026-11-20T12:00:00.000Z')
    expect(maxOf([[0, 1], [3, null], [7, 2]])).toBe(7)
  })
})

describe('axes', () => {
  it('steps byte axes at binary multiples', () => {
    expect(BYTE_INCRS).toContain(1024)
    expect(BYTE_INCRS).toContain(2 * 1024 ** 3)
    expect(BYTE_INCRS).not.toContain(1000)
    expect([...BYTE_INCRS].sort((a, b) => a - b)).toEqual(BYTE_INCRS)
  })
  it('sizes the y axis to its longest label', () => {
    expect(axisWidth([])).toBe(40)
    expect(axisWidth(['0 B', '977 KiB/s'])).toBeGreaterThan(axisWidth(['0 %', '100 %']))
  })
})
