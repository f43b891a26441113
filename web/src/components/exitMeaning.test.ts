import { describe, expect, it } from 'vitest'
import { exitMeaning } from './ui'

describe('exitMeaning', () => {
  it('reads the reserved codes only on results the agent skipped', () => {
    expect(exitMeaning(119, true, false)).toBe('skipped: the command needs a part this agent does not support')
    expect(exitMeaning(122, true, false)).toBe('skipped: unsupported on this machine')
    expect(exitMeaning(123, true, false)).toBe('skipped: signature refused')
    expect(exitMeaning(125, true, false)).toBe('skipped: deadline passed before start')
    expect(exitMeaning(121, true, false)).toBe('skipped')
    expect(exitMeaning(124, false, false)).toBe('failed')
    expect(exitMeaning(-1, false, false)).toBe('killed or timed out')
    expect(exitMeaning(0, false, false)).toBe('ok')
    expect(exitMeaning(null, false, false)).toBe('running')
    expect(exitMeaning(1, false, true)).toBe('reaped (deadline passed while running)')
  })
})
