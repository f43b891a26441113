import { describe, expect, it } from 'vitest'
import type { Approval } from '../api/types'
import { approvalActions, approvalSummary } from './approval'

const now = new Date('2026-01-01T12:00:00Z')
const request: Approval = {
  exec_id: 'e1',
  job_id: 'patch',
  version: '3',
  requested_by: 'alice',
  requested_at: '2026-01-01T11:00:00Z',
  expires_at: '2026-01-02T11:00:00Z',
  state: 'awaiting',
  request: { target: { all: true, groups: [], pcs: [] } },
}

describe('approvalActions', () => {
  it('lets another operator or an admin approve or reject', () => {
    expect(approvalActions(request, { username: 'bob', role: 'operator' }, now)).toEqual({ approve: true, reject: true })
    expect(approvalActions(request, { username: 'root', role: 'admin' }, now)).toEqual({ approve: true, reject: true })
  })

  it('never lets the requester approve their own request, only withdraw it', () => {
    const own = approvalActions(request, { username: 'alice', role: 'admin' }, now)
    expect(own.approve).toBe(false)
    expect(own.reject).toBe(true)
    expect(own.why).toContain('another operator')
  })

  it('offers nothing to a viewer, on an expired request or once decided', () => {
    expect(approvalActions(request, { username: 'vera', role: 'viewer' }, now)).toMatchObject({ approve: false, reject: false })
    expect(approvalActions(request, { username: 'bob', role: 'operator' }, new Date('2026-01-02T11:00:00Z'))).toMatchObject({ approve: false, reject: false })
    expect(approvalActions({ ...request, state: 'approved' }, { username: 'bob', role: 'operator' }, now)).toEqual({ approve: false, reject: false })
    expect(approvalActions(undefined, { username: 'bob', role: 'operator' }, now)).toEqual({ approve: false, reject: false })
  })
})

describe('approvalSummary', () => {
  it('says who decided and that nothing was sent when it was not approved', () => {
    expect(approvalSummary(request)).toContain('requested by alice')
    expect(approvalSummary({ ...request, state: 'rejected', decided_by: 'bob', reason: 'not today' })).toBe('Rejected by bob (not today); nothing was sent.')
    expect(approvalSummary({ ...request, state: 'expired' })).toContain('nothing was sent')
  })
})
