import { describe, expect, it } from 'vitest'
import type { ExecutionSummary, OutcomeCounts } from '../api/types'
import { countsOf, describeCounts, jobLabel, resultNote, targetsText, toneOf, worstOf } from './outcome'

const zero: OutcomeCounts = { ok: 0, failed: 0, timed_out: 0, killed: 0, skipped: 0, not_reported: 0, running: 0, waiting: 0 }
const exec = (over: Partial<ExecutionSummary>): ExecutionSummary => ({
  exec_id: 'e',
  job_id: 'hello',
  version: '1',
  initiated_by: 'op',
  initiated_at: '2026-01-01T00:00:00Z',
  target_count: 3,
  success_count: 0,
  failure_count: 0,
  skipped_count: 0,
  status: 'completed',
  ...over,
})

describe('outcomes', () => {
  it('colours by the worst: never green with a failure, a timeout or a skip', () => {
    expect(toneOf(worstOf({ ...zero, ok: 5 }))).toBe('ok')
    expect(toneOf(worstOf({ ...zero, ok: 5, skipped: 1 }))).toBe('warn')
    expect(toneOf(worstOf({ ...zero, ok: 5, timed_out: 1 }))).toBe('bad')
    expect(toneOf(worstOf({ ...zero, ok: 5, failed: 1, skipped: 1 }))).toBe('bad')
    expect(worstOf(zero)).toBeNull()
    // Every run ok but a check warned: amber, not green.
    expect(toneOf(worstOf({ ...zero, ok: 2, checks: { ok: 1, warn: 1 } }))).toBe('warn')
    expect(describeCounts({ ...zero, ok: 2, checks: { ok: 1, warn: 1 } })).toBe('2 ok; checks: 1 ok, 1 warn')
  })
  it('says each count with skip reasons', () => {
    expect(describeCounts({ ...zero, ok: 2, failed: 1, timed_out: 1, skipped: 1, skip_reasons: { revoked: 1 }, waiting: 3 })).toBe(
      '2 ok, 1 failed, 1 timed out, 1 skipped (revoked), 3 waiting',
    )
    expect(describeCounts(zero)).toBe('no results')
  })
  it('falls back to the three counters of an older backend', () => {
    const c = countsOf(exec({ success_count: 1, failure_count: 1, status: 'expired' }))
    expect(c.not_reported).toBe(1)
    expect(countsOf(exec({ success_count: 1, status: 'running' })).waiting).toBe(2)
  })
  it('names break-glass runs by their user and lists targets', () => {
    expect(jobLabel({ job_id: '_adhoc', initiated_by: 'cli:alice' })).toBe('run by alice')
    expect(jobLabel({ job_id: 'hello', initiated_by: 'bob' })).toBe('hello')
    expect(targetsText(exec({ targets: ['a', 'group:g'] }))).toBe('a, group:g')
    expect(targetsText(exec({ targets: ['a', 'b', 'c', 'd'] }))).toBe('a, b and 2 more')
    expect(targetsText(exec({}))).toBe('—')
  })
  it('uses the backend note of a result', () => {
    const r = { result_id: 'r', request_id: 'q', exec_id: 'e', pc_id: 'p', job_id: 'j', version: '1', exit_code: -1, started_at: null, finished_at: null, recorded_at: null, skipped: false, reaped: false }
    expect(resultNote({ ...r, outcome: 'timed_out', outcome_note: 'timed out after 2s' })).toBe('timed out after 2s')
    expect(resultNote({ ...r, exit_code: 126, skipped: true })).toBe('skipped')
  })
})
