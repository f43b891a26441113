// Compliance: every check across the fleet (ok / warn / fail / unknown), and one check's
// machines, filterable by status. Gate-only checks (`check.fleet: false`) are listed only
// when asked (`gates=1`, the API's include_non_fleet). A picked check shows its daily trend.

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { ApiError, api, qs } from '../api/client'
import type { CheckRow, CheckStatus, ComplianceSummary, Page } from '../api/types'
import { ComplianceTrend } from '../components/ComplianceTrend'
import { DataTable } from '../components/DataTable'
import { Badge, Card, NotAvailable } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'

const TONE: Record<CheckStatus, 'ok' | 'warn' | 'bad' | 'muted'> = { ok: 'ok', warn: 'warn', fail: 'bad', unknown: 'muted' }

export function CheckBadge({ status }: { status: CheckStatus }) {
  return <Badge tone={TONE[status] ?? 'muted'}>{status}</Badge>
}

const KEYS = ['check', 'status', 'page', 'gates'] as const

export function CompliancePage() {
  const [s, set] = useUrlState(KEYS)
  const page = Number(s.page) || 0
  const size = 25
  const summary = useQuery({
    queryKey: ['compliance', s.gates],
    queryFn: ({ signal }) => api.get<ComplianceSummary[]>(`/api/compliance${qs({ include_non_fleet: s.gates ? true : undefined })}`, signal),
    retry: false,
  })
  const rows = useQuery({
    queryKey: ['compliance', s.check, s.status, page],
    queryFn: ({ signal }) => api.get<Page<CheckRow>>(`/api/compliance/${encodeURIComponent(s.check)}${qs({ status: s.status, limit: size, offset: page * size })}`, signal),
    enabled: !!s.check,
    retry: false,
    placeholderData: keepPreviousData,
  })
  if (summary.error instanceof ApiError && summary.error.routeMissing)
    return (
      <div className="page">
        <h1>Compliance</h1>
        <Card title="Compliance">
          <NotAvailable />
        </Card>
      </div>
    )
  return (
    <div className="page">
      <h1>Compliance</h1>
      <p className="muted">The latest status of every check job (a job with a `check` hint) on every machine.</p>
      <label className="inline">
        <input type="checkbox" checked={!!s.gates} onChange={(e) => set({ gates: e.target.checked ? 1 : null })} /> include gate-only checks
        (<code>fleet: false</code>)
      </label>
      <DataTable
        label="Checks"
        filename="compliance"
        rows={summary.data}
        loading={summary.isPending}
        error={summary.error}
        rowKey={(c) => c.check_name}
        initialSort={{ key: 'fail', dir: 'desc' }}
        empty="No check job has reported yet."
        columns={[
          { key: 'check_name', header: 'Check', value: (c) => c.label ?? c.check_name, render: (c) => <button type="button" className="linkish" onClick={() => set({ check: c.check_name, status: null, page: null })}>{c.label ?? c.check_name}</button> },
          { key: 'ok', header: 'OK', value: (c) => c.ok, align: 'right' },
          { key: 'warn', header: 'Warn', value: (c) => c.warn, align: 'right', render: (c) => <span className={c.warn ? 'warn-text' : undefined}>{c.warn}</span> },
          { key: 'fail', header: 'Fail', value: (c) => c.fail, align: 'right', render: (c) => <span className={c.fail ? 'bad-text' : undefined}>{c.fail}</span> },
          { key: 'unknown', header: 'Unknown', value: (c) => c.unknown, align: 'right', wide: true },
          { key: 'failing', header: 'Failing machines', value: (c) => c.failing.join(' '), render: (c) => <span className="clip">{c.failing.slice(0, 5).join(', ')}{c.failing.length > 5 ? ' …' : ''}</span>, wide: true },
        ]}
      />
      {s.check && <ComplianceTrend key={s.check} check={s.check} label={summary.data?.find((c) => c.check_name === s.check)?.label} />}
      {s.check && (
        <Card
          title={`Machines: ${s.check}`}
          actions={
            <select aria-label="Status" value={s.status} onChange={(e) => set({ status: e.target.value, page: null })}>
              <option value="">every status</option>
              {(['fail', 'warn', 'unknown', 'ok'] as CheckStatus[]).map((x) => (
                <option key={x} value={x}>
                  {x}
                </option>
              ))}
            </select>
          }
        >
          <DataTable
            label={`Machines of ${s.check}`}
            filename={`check-${s.check}`}
            rows={rows.data?.items}
            loading={rows.isPending}
            error={rows.error}
            rowKey={(r) => r.pc_id}
            empty="No machine with this status."
            server={{
              total: rows.data?.total ?? 0,
              page,
              pageSize: size,
              onPage: (p) => set({ page: p }),
              exportAll: async () => (await api.get<Page<CheckRow>>(`/api/compliance/${encodeURIComponent(s.check)}${qs({ status: s.status, limit: 1000 })}`)).items,
            }}
            columns={[
              { key: 'pc_id', header: 'Machine', value: (r) => r.pc_id, render: (r) => <Link to={`/agents/${encodeURIComponent(r.pc_id)}`}>{r.pc_id}</Link> },
              { key: 'status', header: 'Status', value: (r) => r.status, render: (r) => <CheckBadge status={r.status} /> },
              { key: 'detail', header: 'Detail', value: (r) => r.detail ?? '' },
              { key: 'finished_at', header: 'Checked', value: (r) => r.finished_at, render: (r) => <span title={formatDateTime(r.finished_at)}>{formatRelative(r.finished_at)}</span> },
            ]}
          />
        </Card>
      )}
    </div>
  )
}
