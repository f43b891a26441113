// The two-person rule on the dashboard: which of Approve / Reject the signed-in person may
// press on an execution of a job with `require_approval: true`, and why not, mirroring the
// backend (an operator or admin decides; the requester may reject but never approve their own
// request; a request past its expiry is decided by nobody).

import type { Approval, Role } from '../api/types'
import { roleAtLeast } from '../auth'

export interface ApprovalActions {
  approve: boolean
  reject: boolean
  /** Why Approve is not offered, when the request still waits. */
  why?: string
}

export function approvalActions(approval: Approval | null | undefined, me: { username: string; role: Role } | undefined, now: Date): ApprovalActions {
  if (!approval || approval.state !== 'awaiting') return { approve: false, reject: false }
  if (new Date(approval.expires_at).getTime() <= now.getTime()) return { approve: false, reject: false, why: 'The request has expired; nothing was sent.' }
  if (!me || !roleAtLeast(me.role, 'operator')) return { approve: false, reject: false, why: 'Only an operator or admin can approve or reject.' }
  if (me.username === approval.requested_by)
    return { approve: false, reject: true, why: 'You requested this run: another operator must approve it. You can withdraw it with Reject.' }
  return { approve: true, reject: true }
}

/** One line saying where a request stands. */
export function approvalSummary(approval: Approval): string {
  const reason = approval.reason ? ` (${approval.reason})` : ''
  switch (approval.state) {
    case 'awaiting':
      return `Awaiting a second operator's approval; requested by ${approval.requested_by}. Nothing is sent until then.`
    case 'approved':
      return `Approved by ${approval.decided_by ?? '?'}${reason}; requested by ${approval.requested_by}.`
    case 'rejected':
      return `Rejected by ${approval.decided_by ?? '?'}${reason}; nothing was sent.`
    case 'expired':
      return 'Nobody approved it in time; nothing was sent.'
  }
}
