// The two-person rule on an execution's page: where the request stands, and Approve / Reject
// for whoever may decide it (another operator or an admin; the requester may only withdraw).

import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { api } from '../api/client'
import type { Approval } from '../api/types'
import { useAuth } from '../auth'
import { approvalActions, approvalSummary } from '../lib/approval'
import { useNow } from '../lib/clock'
import { formatDateTime, formatRelative } from '../lib/format'
import { Card, ErrorBox, KeyValues } from './ui'

export function ApprovalCard({ approval }: { approval: Approval }) {
  const { me } = useAuth()
  const qc = useQueryClient()
  const [notice, setNotice] = useState<string | null>(null)
  const decide = useMutation({
    mutationFn: ({ verb, reason }: { verb: 'approve' | 'reject'; reason: string }) =>
      api.post<Approval>(`/api/executions/${encodeURIComponent(approval.exec_id)}/${verb}`, reason ? { reason } : {}),
    onSuccess: (a) => {
      setNotice(a.state === 'approved' ? 'Approved: the commands were sent.' : 'Rejected: nothing was sent.')
      void qc.invalidateQueries({ queryKey: ['execution', approval.exec_id] })
      void qc.invalidateQueries({ queryKey: ['executions'] })
      void qc.invalidateQueries({ queryKey: ['approvals'] })
    },
  })
  const now = useNow(30_000, approval.state === 'awaiting')
  const actions = approvalActions(approval, me, new Date(now))
  const ask = (verb: 'approve' | 'reject') => {
    const typed = prompt(verb === 'approve' ? `Approve ${approval.job_id} v${approval.version}: its commands are sent now. Reason (optional):` : `Reject ${approval.job_id} v${approval.version}: nothing will be sent. Reason (optional):`)
    if (typed === null) return
    setNotice(null)
    decide.mutate({ verb, reason: typed.trim() })
  }
  return (
    <Card title="Approval">
      <p className={approval.state === 'awaiting' ? 'alert warn' : 'muted'} data-testid="approval-state">
        {approvalSummary(approval)}
      </p>
      <KeyValues
        items={[
          ['Requested by', approval.requested_by],
          ['Requested', `${formatDateTime(approval.requested_at)} (${formatRelative(approval.requested_at)})`],
          ...(approval.state === 'awaiting'
            ? ([['Expires', `${formatDateTime(approval.expires_at)} (${formatRelative(approval.expires_at)})`]] as [string, string][])
            : ([['Decided', `${approval.decided_by ?? '—'}${approval.decided_at ? `, ${formatDateTime(approval.decided_at)}` : ''}`]] as [string, string][])),
          ...(approval.reason ? ([['Reason', approval.reason]] as [string, string][]) : []),
        ]}
      />
      <ErrorBox error={decide.error} />
      {notice && (
        <p className="alert ok" role="status">
          {notice}
        </p>
      )}
      {approval.state === 'awaiting' && actions.why && <p className="muted">{actions.why}</p>}
      {(actions.approve || actions.reject) && (
        <div className="row">
          {actions.approve && (
            <button type="button" className="btn primary" data-mutating disabled={decide.isPending} onClick={() => ask('approve')}>
              Approve
            </button>
          )}
          {actions.reject && (
            <button type="button" className="btn danger" data-mutating disabled={decide.isPending} onClick={() => ask('reject')}>
              Reject
            </button>
          )}
        </div>
      )}
    </Card>
  )
}
