// An execution's progress: finished runs of the machines targeted, split ok / failed / skipped,
// with the worst outcomes in words (timed out and killed runs are failures of the bar).

import type { ExecutionSummary } from '../api/types'
import { countsOf } from '../lib/outcome'

export function Progress({ e }: { e: ExecutionSummary }) {
  const done = e.success_count + e.failure_count + e.skipped_count
  const total = Math.max(e.target_count, done, 1)
  const pct = (n: number) => `${(n / total) * 100}%`
  const c = countsOf(e)
  const plainFailed = e.outcomes ? c.failed : e.failure_count
  return (
    <div className="progress-wrap">
      <div
        className="progress"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={e.target_count}
        aria-valuenow={done}
        aria-label={`${done} of ${e.target_count} machines reported`}
      >
        <span className="seg ok" style={{ width: pct(e.success_count) }} />
        <span className="seg bad" style={{ width: pct(e.failure_count) }} />
        <span className="seg warn" style={{ width: pct(e.skipped_count) }} />
      </div>
      <span className="progress-text" data-testid="progress-text">
        {done}/{e.target_count}
        {plainFailed > 0 && <span className="bad-text"> · {plainFailed} failed</span>}
        {c.timed_out > 0 && <span className="bad-text"> · {c.timed_out} timed out</span>}
        {c.killed > 0 && <span className="warn-text"> · {c.killed} killed</span>}
        {e.outcomes && c.not_reported > 0 && <span className="bad-text"> · {c.not_reported} not reported</span>}
        {e.skipped_count > 0 && <span className="warn-text"> · {e.skipped_count} skipped</span>}
      </span>
    </div>
  )
}
