// Picking machines from a list (components/MachinePicker): which machines a typed filter
// keeps, and the picked set after a check, an uncheck or "Pick all shown". Pure functions, so
// they are testable.

import type { AgentRow } from '../api/types'

/** The machines a typed filter keeps: its text (case and surrounding spaces ignored) within
 * the machine id, the host name or one of the addresses. An empty filter keeps them all. */
export function filterMachines(machines: AgentRow[], filter: string): AgentRow[] {
  const f = filter.trim().toLowerCase()
  if (!f) return machines
  return machines.filter((a) => a.pc_id.toLowerCase().includes(f) || a.hostname.toLowerCase().includes(f) || (a.ip_addresses ?? []).some((ip) => ip.toLowerCase().includes(f)))
}

/** `picked` with `id` checked (`on`) or unchecked, as a new set. */
export function withPicked(picked: ReadonlySet<string>, id: string, on: boolean): Set<string> {
  const next = new Set(picked)
  if (on) next.add(id)
  else next.delete(id)
  return next
}

/** `picked` plus every machine in `shown`, as a new set (those picked but hidden stay). */
export function withAllShown(picked: ReadonlySet<string>, shown: AgentRow[]): Set<string> {
  return new Set([...picked, ...shown.map((a) => a.pc_id)])
}
