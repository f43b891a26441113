// A check's daily trend (GET /api/compliance/{check}/trend) as chart columns: one point per
// UTC day of the range, a gap (null) on days without any result.

import type { Columns } from './series'

export interface CheckTrendDay {
  day: string
  ok: number
  warn: number
  fail: number
  unknown: number
}

export interface CheckTrend {
  check_name: string
  days: number
  points: CheckTrendDay[]
}

const DAY = 86_400

/** Epoch seconds of a `YYYY-MM-DD` UTC day's midnight. */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000
}

/** [days, ok, warn, fail, unknown] for each of the `days` UTC days up to `today` (epoch ms). */
export function trendColumns(trend: CheckTrend | undefined, days: number, today: number = Date.now()): Columns {
  const last = Math.floor(today / 1000 / DAY) * DAY
  const byDay = new Map((trend?.points ?? []).map((p) => [dayStart(p.day), p]))
  const xs: number[] = []
  const cols: (number | null)[][] = [[], [], [], []]
  for (let i = days - 1; i >= 0; i--) {
    const x = last - i * DAY
    const p = byDay.get(x)
    xs.push(x)
    cols[0].push(p ? p.ok : null)
    cols[1].push(p ? p.warn : null)
    cols[2].push(p ? p.fail : null)
    cols[3].push(p ? p.unknown : null)
  }
  return [xs, ...cols]
}
