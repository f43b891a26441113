// A time-series chart on uPlot: sized to its container, coloured from the theme, thinned to
// about one point per two pixels, with lines broken where samples are missing.

import { useEffect, useRef, useState } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { BYTE_INCRS, axisWidth, breakGaps, downsample, type Columns } from '../lib/series'
import { useTheme } from '../theme'

export interface SeriesSpec {
  label: string
  /** A CSS colour or a var(--name) of the theme. */
  color: string
  fill?: boolean
}

interface Props {
  title: string
  data: Columns
  series: SeriesSpec[]
  /** Seconds between points, to break lines at gaps. */
  step?: number
  format: (v: number) => string
  height?: number
  yMax?: number
  /** The x window in epoch seconds (the range asked for), so gaps at either end show. */
  xRange?: [number, number]
  /** Byte values: ticks at binary steps (1, 2, 4 … KiB/MiB/GiB). */
  bytes?: boolean
}

function resolve(color: string): string {
  const m = /^var\((--[\w-]+)\)$/.exec(color)
  return m ? getComputedStyle(document.documentElement).getPropertyValue(m[1]).trim() || '#888' : color
}

export function TimeChart({ title, data, series, step, format, height = 200, yMax, xRange, bytes }: Props) {
  const box = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(0)
  const { theme } = useTheme()

  useEffect(() => {
    const el = box.current
    if (!el) return
    const ro = new ResizeObserver((entries) => setWidth(Math.floor(entries[0].contentRect.width)))
    ro.observe(el)
    return () => ro.disconnect()
  }, [])

  const points = data[0].length
  useEffect(() => {
    const el = box.current
    if (!el || width < 50 || points === 0) return
    const thinned = downsample(step ? breakGaps(data, step) : data, Math.max(50, Math.floor(width / 2)))
    const axis = resolve('var(--muted)')
    const grid = resolve('var(--grid)')
    const opts: uPlot.Options = {
      width,
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: true, ...(xRange ? { range: (): uPlot.Range.MinMax => xRange } : {}) },
        y: { range: (_u, _min, max) => [0, yMax ?? (max > 0 ? max * 1.1 : 1)] },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, space: 70 },
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          ...(bytes ? { incrs: BYTE_INCRS } : {}),
          size: (_u, values) => axisWidth(values ?? []),
          values: (_u, vals) => vals.map((v) => format(v)),
        },
      ],
      series: [
        {},
        ...series.map((s) => {
          const c = resolve(s.color)
          return { label: s.label, stroke: c, width: 1.5, fill: s.fill ? `${c}22` : undefined, value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)), spanGaps: false }
        }),
      ],
    }
    const plot = new uPlot(opts, thinned as uPlot.AlignedData, el)
    return () => plot.destroy()
  }, [data, points, width, height, series, step, format, yMax, theme, xRange, bytes])

  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-box" role="img" aria-label={`${title} chart`}>
        {points === 0 && <p className="muted chart-empty">No samples in this range.</p>}
      </div>
    </figure>
  )
}
