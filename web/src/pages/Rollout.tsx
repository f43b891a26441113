// Rollout: the agent releases published to the broker (admins publish them with the CLI) and
// which agent versions the fleet runs now.

import { useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { ApiError, api } from '../api/client'
import type { VersionCount } from '../api/types'
import { DataTable, type Column } from '../components/DataTable'
import { Card, NotAvailable } from '../components/ui'
import { formatBytes, formatDateTime } from '../lib/format'
import { rowsOf } from './Probe'

type Row = Record<string, unknown>

function releaseColumns(rows: Row[]): Column<Row>[] {
  const keys = [...new Set(rows.slice(0, 50).flatMap((r) => Object.keys(r)))].slice(0, 8)
  return keys.map((k) => ({
    key: k,
    header: k.replace(/_/g, ' '),
    value: (r: Row) => {
      const v = r[k]
      return v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean)
    },
    render: (r: Row) => {
      const v = r[k]
      if (typeof v === 'number' && /size|bytes/.test(k)) return formatBytes(v)
      if (typeof v === 'string' && /_at$/.test(k)) return formatDateTime(v)
      if (typeof v === 'string' && /sha/.test(k)) return <code title={v}>{v.slice(0, 12)}…</code>
      return v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
    },
  }))
}

export function RolloutPage() {
  const releases = useQuery({ queryKey: ['releases'], queryFn: ({ signal }) => api.get<unknown>('/api/agent-releases', signal), retry: false })
  const versions = useQuery({ queryKey: ['dashboard', 'versions'], queryFn: ({ signal }) => api.get<VersionCount[]>('/api/agents/versions', signal) })
  const rows = releases.data === undefined ? undefined : rowsOf(releases.data)
  return (
    <div className="page">
      <h1>Rollout</h1>
      <p className="muted">
        Agent releases admins published to the broker (<code>POST /api/agent-releases</code>) and the versions the fleet runs. Agents update themselves to the version their config pins.
      </p>
      <Card title="Agent versions in the fleet">
        <DataTable
          label="Agent versions"
          filename="agent-versions"
          rows={versions.data}
          loading={versions.isPending}
          error={versions.error}
          rowKey={(v) => v.agent_version}
          initialSort={{ key: 'machines', dir: 'desc' }}
          columns={[
            { key: 'agent_version', header: 'Version', value: (v) => v.agent_version, render: (v) => <Link to={`/agents?version=${encodeURIComponent(v.agent_version)}`}>{v.agent_version}</Link> },
            { key: 'machines', header: 'Machines', value: (v) => v.machines, align: 'right' },
            { key: 'online', header: 'Online', value: (v) => v.online, align: 'right' },
          ]}
        />
      </Card>
      <Card title="Published releases">
        {releases.error instanceof ApiError && releases.error.status === 404 ? (
          <NotAvailable />
        ) : (
          <DataTable
            label="Releases"
            filename="agent-releases"
            rows={rows}
            loading={releases.isPending}
            error={releases.error}
            rowKey={(r) => JSON.stringify(r)}
            columns={releaseColumns(rows ?? [])}
            empty="No release published yet."
          />
        )}
      </Card>
    </div>
  )
}
