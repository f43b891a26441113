import { describe, expect, it } from 'vitest'
import type { ExecutionSummary } from '../api/types'
import { runOutcome } from './runs'

const exec = (over: Partial<ExecutionSummary>): ExecutionSummary => ({
  exec_id: 'e1',
  job_id: 'j',
  version: '1',
  initiated_by: 'admin',
  initiated_at: '2026-01-01T00:00:00Z',
  target_count: 2,
  success_count: 2,
  failure_count: 0,
  skipped_count: 0,
  status: 'completed',
  ...over,
})

describe('runOutcome', () => {
  it('is green only when every target succeeded', () => {
    expect(runOutcome(exec({}))).toEqual({ tone: 'ok', label: 'ok', detail: '2 of 2 ok' })
  })

  it('colours a completed run with failures by the failures', () => {
    expect(runOutcome(exec({ success_count: 1, failure_count: 1 }))).toMatchObject({ tone: 'bad', label: '1 failed', detail: '1 of 2 ok, 1 failed' })
  })

  it('says who never answered once the run is over, and shows a running one as running', () => {
    expect(runOutcome(exec({ success_count: 1, status: 'expired' }))).toMatchObject({ tone: 'warn', label: '1 not reported' })
    expect(runOutcome(exec({ success_count: 1, status: 'running' }))).toMatchObject({ tone: 'info', label: 'running', detail: '1 of 2 ok' })
  })

  it('tells skipped and approval states apart', () => {
    expect(runOutcome(exec({ success_count: 0, skipped_count: 2 }))).toMatchObject({ tone: 'warn', label: 'skipped' })
    expect(runOutcome(exec({ success_count: 0, status: 'awaiting_approval' }))).toMatchObject({ label: 'awaiting approval' })
    expect(runOutcome(exec({ success_count: 0, status: 'rejected' }))).toMatchObject({ tone: 'bad' })
  })
})
