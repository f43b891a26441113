// Groups: names and how many machines are in each. Membership is edited on a machine's page.

import { useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { api } from '../api/client'
import type { GroupSummary } from '../api/types'
import { DataTable } from '../components/DataTable'

export function GroupsPage() {
  const q = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), retry: false })
  return (
    <div className="page">
      <h1>Groups</h1>
      <p className="muted">A machine joins or leaves a group on its own page; commands sent to a group reach its members live.</p>
      <DataTable
        label="Groups"
        filename="groups"
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(g) => g.name}
        initialSort={{ key: 'name', dir: 'asc' }}
        empty="No groups yet."
        columns={[
          { key: 'name', header: 'Group', value: (g) => g.name, render: (g) => <Link to={`/agents?group=${encodeURIComponent(g.name)}`}>{g.name}</Link> },
          { key: 'members', header: 'Machines', value: (g) => g.members, align: 'right' },
        ]}
      />
    </div>
  )
}
