import { describe, expect, it } from 'vitest'
import { frozenExecWarning, runStep } from './freeze'

describe('frozenExecWarning', () => {
  const freeze = { set_at: '2026-01-01T00:00:00Z', reason: 'patch tuesday', until: '2026-01-02T00:00:00Z' }

  it('says nothing when the fleet is not frozen', () => {
    expect(frozenExecWarning({ frozen: false }, false, false)).toBeNull()
    expect(frozenExecWarning({ frozen: false, freeze }, false, false)).toBeNull()
    expect(frozenExecWarning(undefined, false, true)).toBeNull()
  })

  it('says what a manual run and a rollout do while frozen', () => {
    expect(frozenExecWarning({ frozen: true, freeze }, false, false)).toBe(
      'the fleet is frozen (reason: patch tuesday; until 2026-01-02T00:00:00Z): scheduled fires and rollout waves are held; this manual run goes out now',
    )
    expect(frozenExecWarning({ frozen: true, freeze: { set_at: freeze.set_at } }, false, true)).toBe(
      "the fleet is frozen (no reason given; until lifted): scheduled fires and rollout waves are held; this rollout's waves wait until the freeze ends",
    )
  })

  it('treats an unreadable freeze as frozen', () => {
    expect(frozenExecWarning(undefined, true, false)).toBe(
      'the fleet freeze record is unreadable and counts as frozen: scheduled fires and rollout waves are held; this manual run goes out now',
    )
  })
})

describe('runStep', () => {
  it('asks once for a confirmation while frozen, then sends', () => {
    expect(runStep(null, false)).toBe('send')
    expect(runStep('frozen…', false)).toBe('confirm')
    expect(runStep('frozen…', true)).toBe('send')
  })
})
