// Picking machines from the fleet: a filter box (machine id, host name or address), one
// checkbox per machine shown, "Pick all shown" and "Clear". Used by "New group" and by the
// run dialog; the picked set lives with the caller, the fleet is fetched while the picker is
// on screen.

import { useQuery } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import { api } from '../api/client'
import type { AgentRow, Page } from '../api/types'
import { filterMachines, withAllShown, withPicked } from '../lib/picker'
import { OnlineBadge } from './ui'

export interface MachinePickerProps {
  /** The machine ids picked. */
  picked: ReadonlySet<string>
  onChange: (picked: Set<string>) => void
}

export function MachinePicker({ picked, onChange }: MachinePickerProps) {
  const [filter, setFilter] = useState('')
  const fleet = useQuery({ queryKey: ['agents', 'picker'], queryFn: ({ signal }) => api.get<Page<AgentRow>>('/api/agents?limit=1000&sort=pc_id', signal) })
  const shown = useMemo(() => filterMachines(fleet.data?.items ?? [], filter), [fleet.data, filter])

  return (
    <div className="picker">
      <input type="search" placeholder="Filter machines (id, host name, address)…" aria-label="Filter machines" value={filter} onChange={(e) => setFilter(e.target.value)} />
      <div className="picker-list" role="group" aria-label="Machines">
        {fleet.isPending && <p className="muted">Loading machines…</p>}
        {!fleet.isPending && shown.length === 0 && <p className="muted">No machines.</p>}
        {shown.map((a) => (
          <label key={a.pc_id} className="check">
            <input type="checkbox" checked={picked.has(a.pc_id)} onChange={(e) => onChange(withPicked(picked, a.pc_id, e.target.checked))} />
            <span>{a.pc_id}</span> <OnlineBadge online={a.online} />
          </label>
        ))}
      </div>
      <p className="muted small">
        {picked.size} picked.{' '}
        {shown.length > 0 && (
          <button type="button" className="linkish" onClick={() => onChange(withAllShown(picked, shown))}>
            Pick all shown
          </button>
        )}{' '}
        {picked.size > 0 && (
          <button type="button" className="linkish" onClick={() => onChange(new Set())}>
            Clear
          </button>
        )}
      </p>
    </div>
  )
}
