// A machine's effective config: every field, its value, and the scope it came from (a link to
// that scope on the Config page).

import { Link } from 'react-router'
import type { EffectiveConfigView } from '../api/types'
import { fieldOf, scopeLabel, showValue } from '../lib/config'
import { DataTable } from './DataTable'
import { Badge } from './ui'

export function ScopeLink({ scope }: { scope: string }) {
  if (scope === 'default') return <Badge tone="muted">default</Badge>
  return (
    <Link to={`/config?scope=${encodeURIComponent(scope)}`} title={scopeLabel(scope)}>
      <code className="nowrap">{scope}</code>
    </Link>
  )
}

export function EffectiveConfigTable({ view, loading, error }: { view: EffectiveConfigView | undefined; loading?: boolean; error?: unknown }) {
  return (
    <DataTable
      label="Effective config"
      filename={`effective-config-${view?.pc_id ?? 'machine'}`}
      rows={view?.sources}
      loading={loading}
      error={error}
      rowKey={(s) => s.field}
      pageSize={25}
      columns={[
        { key: 'field', header: 'Field', value: (s) => s.field, render: (s) => <code title={fieldOf(s.field)?.about}>{s.field}</code> },
        { key: 'value', header: 'Value', value: (s) => showValue(s.field, s.value), render: (s) => <span className="nowrap">{showValue(s.field, s.value)}</span> },
        { key: 'scope', header: 'From', value: (s) => s.scope, render: (s) => <ScopeLink scope={s.scope} /> },
      ]}
    />
  )
}
