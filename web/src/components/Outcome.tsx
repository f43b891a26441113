// An execution's status badge coloured by its worst outcome (a `completed` execution with a
// failure is red, with only skips amber), and one result's outcome in words.

import type { ExecutionSummary, ResultSummary } from '../api/types'
import { countsOf, describeCounts, resultNote, resultTone, toneOf, worstOf } from '../lib/outcome'
import { Badge, StatusBadge } from './ui'

export function ExecutionBadge({ e }: { e: ExecutionSummary }) {
  // Before any result (pending, awaiting approval, rejected) the status says it all.
  const counts = countsOf(e)
  const worst = e.worst ?? worstOf(counts)
  if (!worst || worst === 'running') return <StatusBadge status={e.status} />
  return (
    <Badge tone={toneOf(worst)} title={describeCounts(counts)}>
      <span data-testid="execution-badge" data-worst={worst}>
        {e.status}
        {worst !== 'ok' && ` · ${worst.replace('_', ' ')}`}
      </span>
    </Badge>
  )
}

export function ResultOutcome({ r }: { r: ResultSummary }) {
  return <Badge tone={resultTone(r)}>{resultNote(r)}</Badge>
}
