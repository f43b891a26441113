// One check's trend on the compliance page: per UTC day, how many machines passed, warned,
// failed or were unknown (each machine once a day, by its last result that day).

import { useQuery } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import { api } from '../api/client'
import { trendColumns, type CheckTrend } from '../lib/trend'
import { TimeChart, type SeriesSpec } from './TimeChart'
import { Card } from './ui'

const RANGES = [7, 30, 90]
const SERIES: SeriesSpec[] = [
  { label: 'ok', color: 'var(--ok)' },
  { label: 'warn', color: 'var(--warn)' },
  { label: 'fail', color: 'var(--bad)' },
  { label: 'unknown', color: 'var(--muted)' },
]
// Machines are whole: no tick between two counts.
const count = (v: number) => (Number.isInteger(v) ? String(v) : '')

export function ComplianceTrend({ check, label }: { check: string; label?: string | null }) {
  const [days, setDays] = useState(30)
  const q = useQuery({
    queryKey: ['compliance', check, 'trend', days],
    queryFn: ({ signal }) => api.get<CheckTrend>(`/api/compliance/${encodeURIComponent(check)}/trend?days=${days}`, signal),
    retry: false,
  })
  const data = useMemo(() => trendColumns(q.data, days), [q.data, days])
  const reported = q.data?.points.length ?? 0
  return (
    <Card
      title={`Trend: ${label ?? check}`}
      className="compliance-trend"
      actions={
        <select aria-label="Days shown" value={days} onChange={(e) => setDays(Number(e.target.value))}>
          {RANGES.map((d) => (
            <option key={d} value={d}>
              last {d} days
            </option>
          ))}
        </select>
      }
    >
      {q.error ? <p className="muted">The trend is not available: {(q.error as Error).message}</p> : null}
      <p className="muted small">
        Machines per day by their last result that day (UTC).{' '}
        {q.data && (reported === 0 ? 'No results in this range.' : `${reported} day${reported === 1 ? '' : 's'} with results.`)}
      </p>
      <TimeChart title={`${label ?? check}: machines per day`} data={data} series={SERIES} format={count} height={180} />
    </Card>
  )
}
