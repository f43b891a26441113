// Group membership edits of several machines at once: one PUT per machine, a few at a time.

import { eachLimited, type Outcome } from '../lib/fleet'
import { api } from './client'

/** Adds every machine to `group` (four requests in flight at most); says how each went. */
export function addToGroup(pcs: string[], group: string): Promise<Outcome<string>[]> {
  return eachLimited(pcs, 4, (pc) => api.put(`/api/agents/${encodeURIComponent(pc)}/groups/${encodeURIComponent(group)}`))
}
