// What a manual run does while the fleet is frozen: the same sentence the backend's exec
// answer (`warnings`, code fleet_frozen) and the CLI give. The freeze holds only scheduled
// fires and rollout waves; a manual run goes out at once.

import type { FreezeStatus } from '../api/types'

/** `status` from GET /api/freeze; `unreadable` when it answered 500 freeze_unreadable (the
 * stored freeze does not decode and counts as frozen). Null when nothing needs saying. */
export function frozenExecWarning(status: FreezeStatus | null | undefined, unreadable: boolean, rollout: boolean): string | null {
  let state: string
  if (unreadable) state = 'the fleet freeze record is unreadable and counts as frozen'
  else if (status?.frozen) {
    const reason = status.freeze?.reason?.trim()
    const until = status.freeze?.until
    state = `the fleet is frozen (${reason ? `reason: ${reason}` : 'no reason given'}; ${until ? `until ${until}` : 'until lifted'})`
  } else return null
  const what = rollout ? "this rollout's waves wait until the freeze ends" : 'this manual run goes out now'
  return `${state}: scheduled fires and rollout waves are held; ${what}`
}

/** The Run button's click while a warning stands: the first shows it and asks again, the
 * second (confirmed) sends. */
export function runStep(warning: string | null, confirmed: boolean): 'send' | 'confirm' {
  return warning && !confirmed ? 'confirm' : 'send'
}
