// Time-series helpers for the charts: columns in uPlot's layout, gaps where data is missing,
// and downsampling so a chart never draws more points than it has pixels for.

/** uPlot's data layout: x values (seconds) first, then one array per series. */
export type Columns = [number[], ...(number | null)[][]]

/** Turns objects into columns: x in epoch seconds, each series picked by a function. */
export function toColumns<P>(
  points: readonly P[],
  x: (p: P) => number,
  series: ((p: P) => number | null | undefined)[],
): Columns {
  const xs = points.map(x)
  const ys = series.map((pick) =>
    points.map((p) => {
      const v = pick(p)
      return typeof v === 'number' && Number.isFinite(v) ? v : null
    }),
  )
  return [xs, ...ys]
}

/** Inserts a null point wherever consecutive x values are more than 1.5 steps apart, so lines
 * break where a machine sent nothing instead of bridging the gap. */
export function breakGaps(data: Columns, step: number): Columns {
  const [xs, ...ys] = data
  if (step <= 0 || xs.length < 2) return data
  const outX: number[] = []
  const outY: (number | null)[][] = ys.map(() => [])
  for (let i = 0; i < xs.length; i++) {
    if (i > 0 && xs[i] - xs[i - 1] > step * 1.5) {
      outX.push(xs[i - 1] + step)
      outY.forEach((col) => col.push(null))
    }
    outX.push(xs[i])
    outY.forEach((col, s) => col.push(ys[s][i]))
  }
  return [outX, ...outY]
}

/** At most `max` points: consecutive points are grouped into buckets, each bucket keeps its
 * first x and, per series, the mean of its non-null values (null when all are null). */
export function downsample(data: Columns, max: number): Columns {
  const [xs, ...ys] = data
  const n = xs.length
  if (max < 1 || n <= max) return data
  const size = n / max
  const outX: number[] = []
  const outY: (number | null)[][] = ys.map(() => [])
  for (let b = 0; b < max; b++) {
    const start = Math.floor(b * size)
    const end = Math.min(n, Math.floor((b + 1) * size))
    if (end <= start) continue
    outX.push(xs[start])
    ys.forEach((col, s) => {
      let sum = 0
      let count = 0
      for (let i = start; i < end; i++) {
        const v = col[i]
        if (v !== null) {
          sum += v
          count++
        }
      }
      outY[s].push(count ? sum / count : null)
    })
  }
  return [outX, ...outY]
}

export type RangePreset = '1h' | '24h' | '7d'

export const PRESET_SECONDS: Record<RangePreset, number> = { '1h': 3600, '24h': 86400, '7d': 7 * 86400 }

/** The [from, to] of a preset ending at `now` (milliseconds), as ISO strings for the API. */
export function presetRange(preset: RangePreset, now: number): { from: string; to: string } {
  return {
    from: new Date(now - PRESET_SECONDS[preset] * 1000).toISOString(),
    to: new Date(now).toISOString(),
  }
}

/** Largest value of the series, ignoring nulls (0 when empty), for axis ranges. */
export function maxOf(data: Columns): number {
  let m = 0
  for (const col of data.slice(1) as (number | null)[][]) for (const v of col) if (v !== null && v > m) m = v
  return m
}

/** Tick steps for byte axes: 1, 2, 4 … 512 times each power of 1024. */
export const BYTE_INCRS: number[] = [0, 1, 2, 3, 4, 5].flatMap((k) => [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((m) => m * 1024 ** k))

/** Width in pixels of the y axis for its longest label. */
export function axisWidth(labels: string[]): number {
  const longest = labels.reduce((n, l) => Math.max(n, l.length), 0)
  return Math.max(40, Math.ceil(longest * 7.2) + 18)
}
