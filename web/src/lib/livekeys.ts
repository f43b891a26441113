// Which cached queries a live event makes stale.

import type { QueryKey } from '@tanstack/react-query'
import type { SseMessage } from '../api/sse'

/** The query-key prefixes an event makes stale; `null` means everything. */
export function keysFor(m: SseMessage): QueryKey[] | null {
  if (m.event === 'lagged') return null
  let data: Record<string, unknown> = {}
  try {
    data = JSON.parse(m.data) as Record<string, unknown>
  } catch {
    return []
  }
  switch (m.event) {
    case 'execution':
      return [['executions'], ['execution', data.exec_id], ['dashboard']]
    case 'result':
      return [['execution', data.exec_id], ['executions'], ['results'], ['dashboard']]
    case 'agent':
      return [['agents'], ['agent', data.pc_id], ['dashboard']]
    case 'timeline':
      return [['obs'], ['dashboard']]
    default:
      return []
  }
}
