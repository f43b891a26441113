import { describe, expect, it } from 'vitest'
import { execErrorSlot } from './ExecDialog'

describe('execErrorSlot', () => {
  it('puts each server error next to the input it is about', () => {
    expect(execErrorSlot('target')).toBe('target')
    expect(execErrorSlot('target.pcs[0]')).toBe('target')
    expect(execErrorSlot('rollout.waves[1].group')).toBe('target')
    expect(execErrorSlot('jitter')).toBe('jitter')
    expect(execErrorSlot('deadline_at')).toBe('deadline')
    expect(execErrorSlot(null)).toBe('form')
    expect(execErrorSlot('something_else')).toBe('form')
  })
})
