// Choosing a config scope: global, a group or a machine (names offered from the groups and
// machines the backend knows, any valid name accepted).

import { useQuery } from '@tanstack/react-query'
import { useId } from 'react'
import { api } from '../api/client'
import type { AgentRow, GroupSummary, Page } from '../api/types'
import { isToken, type ScopeKind, type ScopeRef } from '../lib/config'
import { Debounced } from './Debounced'

const KINDS: { kind: ScopeKind; label: string }[] = [
  { kind: 'global', label: 'Global' },
  { kind: 'group', label: 'Group' },
  { kind: 'pc', label: 'Machine' },
]

export function ScopePicker({ value, onChange, label = 'Scope' }: { value: ScopeRef; onChange: (r: ScopeRef) => void; label?: string }) {
  const id = useId()
  const groups = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), retry: false, enabled: value.kind === 'group' })
  const agents = useQuery({
    queryKey: ['agent-names'],
    queryFn: ({ signal }) => api.get<Page<AgentRow>>('/api/agents?limit=1000&sort=pc_id', signal),
    enabled: value.kind === 'pc',
    staleTime: 60_000,
  })
  const names = value.kind === 'group' ? (groups.data ?? []).map((g) => g.name) : value.kind === 'pc' ? (agents.data?.items ?? []).map((a) => a.pc_id) : []
  const bad = value.kind !== 'global' && value.name !== '' && !isToken(value.name)
  return (
    <div className="row scope-picker" role="group" aria-label={label}>
      <div className="segmented">
        {KINDS.map((k) => (
          <button
            key={k.kind}
            type="button"
            className={`btn small ${value.kind === k.kind ? 'active' : ''}`}
            aria-pressed={value.kind === k.kind}
            onClick={() => value.kind !== k.kind && onChange({ kind: k.kind, name: '' })}
          >
            {k.label}
          </button>
        ))}
      </div>
      {value.kind !== 'global' && (
        <>
          <Debounced
            key={value.kind}
            aria-label={value.kind === 'group' ? 'Group name' : 'Machine id'}
            placeholder={value.kind === 'group' ? 'group name' : 'machine id'}
            list={`${id}-names`}
            value={value.name}
            onChange={(name) => onChange({ kind: value.kind, name: name.trim() })}
            aria-invalid={bad}
          />
          <datalist id={`${id}-names`}>
            {names.map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
          {bad && <span className="field-error">letters, digits, &apos;-&apos; and &apos;_&apos; only</span>}
        </>
      )}
    </div>
  )
}
