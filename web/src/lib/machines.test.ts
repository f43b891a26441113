import { describe, expect, it } from 'vitest'
import type { MachineIdentity, TokenRow } from '../api/types'
import { actionsFor, fingerprint, splitMachines, tokenFormProblems, tokenRequest, tokenState } from './machines'

const machine = (pc_id: string, status: MachineIdentity['status'], extra: Partial<MachineIdentity> = {}): MachineIdentity => ({
  pc_id,
  nkey: `U${pc_id.toUpperCase()}KEYKEYKEYKEY`,
  status,
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: '2026-01-02T00:00:00Z',
  address: '10.0.0.1:5000',
  ...extra,
})

describe('machines', () => {
  it('puts machines waiting for a decision first, oldest request first', () => {
    const { waiting, decided } = splitMachines([
      machine('b', 'approved'),
      machine('p2', 'pending', { first_seen: '2026-01-03T00:00:00Z' }),
      machine('p1', 'pending', { first_seen: '2026-01-02T00:00:00Z' }),
      machine('moved', 'approved', { pending_nkey: 'UNEW' }),
      machine('a', 'revoked'),
    ])
    expect(waiting.map((m) => m.pc_id)).toEqual(['moved', 'p1', 'p2'])
    expect(decided.map((m) => m.pc_id)).toEqual(['a', 'b'])
  })
  it('offers only the decisions the server takes', () => {
    expect(actionsFor(machine('p', 'pending'))).toEqual(['approve', 'reject'])
    expect(actionsFor(machine('a', 'approved'))).toEqual(['revoke'])
    expect(actionsFor(machine('m', 'approved', { pending_nkey: 'UNEW' }))).toEqual(['approve', 'reject', 'revoke'])
    expect(actionsFor(machine('r', 'revoked'))).toEqual(['approve'])
    expect(actionsFor(machine('x', 'rejected'))).toEqual(['approve'])
  })
  it('shows the first 12 characters of a key', () => {
    expect(fingerprint('UABCDEFGHIJKLMNOP')).toBe('UABCDEFGHIJK')
    expect(fingerprint(null)).toBe('')
  })
})

describe('tokens', () => {
  const token = (expires_at: string, uses_left: number): TokenRow => ({ id: '0123456789abcdef', expires_at, uses_left, uses_total: 5, created_by: 'admin', created_at: '2026-01-01T00:00:00Z' })
  it('tells usable, expired and used-up tokens apart', () => {
    const now = Date.parse('2026-01-02T00:00:00Z')
    expect(tokenState(token('2026-01-03T00:00:00Z', 1), now)).toBe('usable')
    expect(tokenState(token('2026-01-01T00:00:00Z', 1), now)).toBe('expired')
    expect(tokenState(token('2026-01-03T00:00:00Z', 0), now)).toBe('used up')
  })
  it('checks the form with the server rules and names the field', () => {
    expect(tokenFormProblems({ group: '', expires: '24h', uses: '50' })).toEqual({})
    expect(tokenFormProblems({ group: 'lab-1', expires: '7days', uses: '100000' })).toEqual({})
    expect(Object.keys(tokenFormProblems({ group: 'a.b', expires: '0s', uses: '0' })).sort()).toEqual(['expires', 'group', 'uses'])
    expect(tokenFormProblems({ group: '', expires: ' ', uses: '1.5' })).toHaveProperty('uses')
    expect(tokenFormProblems({ group: '', expires: '', uses: '100001' })).toHaveProperty('expires')
  })
  it('sends a group only when one is typed', () => {
    expect(tokenRequest({ group: ' ', expires: ' 24h ', uses: '50' })).toEqual({ expires: '24h', uses: 50 })
    expect(tokenRequest({ group: 'lab', expires: '1h', uses: '3' })).toEqual({ group: 'lab', expires: '1h', uses: 3 })
  })
})
