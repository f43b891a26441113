// Machine access as the page sees it: which machines wait for a decision, key fingerprints,
// a token's state, and checking the token form before it is sent. Pure functions, so they are
// testable.

import type { MachineIdentity, TokenRow } from '../api/types'
import { parseDuration, toMillis } from './format'

/** Characters of an nkey shown as its fingerprint (as `kanade machines` shows it). */
export const FINGERPRINT = 12

export function fingerprint(nkey: string | null | undefined): string {
  return (nkey ?? '').slice(0, FINGERPRINT)
}

/** Waits for an admin: never approved yet, or approved and presenting a new key. */
export function needsDecision(m: MachineIdentity): boolean {
  return m.status === 'pending' || !!m.pending_nkey
}

/** Machines waiting for a decision (oldest request first), and the rest by pc id. */
export function splitMachines(all: MachineIdentity[]): { waiting: MachineIdentity[]; decided: MachineIdentity[] } {
  const waiting = all.filter(needsDecision).sort((a, b) => (toMillis(a.first_seen) ?? 0) - (toMillis(b.first_seen) ?? 0) || a.pc_id.localeCompare(b.pc_id))
  const decided = all.filter((m) => !needsDecision(m)).sort((a, b) => a.pc_id.localeCompare(b.pc_id))
  return { waiting, decided }
}

/** What an admin may do with a machine right now (the server refuses the rest with 409). */
export function actionsFor(m: MachineIdentity): ('approve' | 'reject' | 'revoke')[] {
  if (needsDecision(m)) return m.status === 'approved' ? ['approve', 'reject', 'revoke'] : ['approve', 'reject']
  if (m.status === 'approved') return ['revoke']
  return ['approve']
}

/** `usable`, `expired` or `used up` at `now`. */
export function tokenState(t: TokenRow, now: number = Date.now()): 'usable' | 'expired' | 'used up' {
  if ((toMillis(t.expires_at) ?? 0) <= now) return 'expired'
  if (t.uses_left <= 0) return 'used up'
  return 'usable'
}

export const MAX_TOKEN_USES = 100_000

export interface TokenForm {
  group: string
  expires: string
  uses: string
}

/** Problems by field name (the server's names); empty when the form may be sent. */
export function tokenFormProblems(form: TokenForm): Record<string, string> {
  const errs: Record<string, string> = {}
  const group = form.group.trim()
  if (group && !/^[A-Za-z0-9_-]{1,128}$/.test(group)) errs.group = "1-128 letters, digits, '-' or '_'"
  const expires = form.expires.trim()
  if (!expires) errs.expires = 'say how long, e.g. 24h or 7d'
  else if (parseDuration(expires) === 0) errs.expires = 'must be at least 1s'
  const uses = form.uses.trim()
  if (!/^\d+$/.test(uses) || Number(uses) < 1 || Number(uses) > MAX_TOKEN_USES) errs.uses = `a whole number from 1 to ${MAX_TOKEN_USES}`
  return errs
}

/** The JSON body of `POST /api/enrollment/tokens` for a checked form. */
export function tokenRequest(form: TokenForm): { group?: string; expires: string; uses: number } {
  const group = form.group.trim()
  return { ...(group ? { group } : {}), expires: form.expires.trim(), uses: Number(form.uses.trim()) }
}
