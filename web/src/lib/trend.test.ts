import { describe, expect, it } from 'vitest'
import { dayStart, trendColumns } from './trend'

describe('trendColumns', () => {
  it('gives every day of the range, with gaps on days without results', () => {
    const today = Date.parse('2026-03-10T15:00:00Z')
    const trend = {
      check_name: 'disk-free',
      days: 3,
      points: [
        { day: '2026-03-08', ok: 3, warn: 0, fail: 1, unknown: 0 },
        { day: '2026-03-10', ok: 4, warn: 1, fail: 0, unknown: 2 },
      ],
    }
    const [xs, ok, warn, fail, unknown] = trendColumns(trend, 3, today)
    expect(xs).toEqual([dayStart('2026-03-08'), dayStart('2026-03-09'), dayStart('2026-03-10')])
    expect(ok).toEqual([3, null, 4])
    expect(warn).toEqual([0, null, 1])
    expect(fail).toEqual([1, null, 0])
    expect(unknown).toEqual([0, null, 2])
  })

  it('is all gaps before the answer arrives', () => {
    const cols = trendColumns(undefined, 2, Date.parse('2026-03-10T00:00:00Z'))
    expect(cols[0]).toHaveLength(2)
    expect(cols[1]).toEqual([null, null])
  })
})
