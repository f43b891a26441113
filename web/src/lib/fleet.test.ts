import { describe, expect, it } from 'vitest'
import { eachLimited, formatLoad, formatUptime, groupNameProblem, summarize } from './fleet'

describe('formatUptime', () => {
  it('grows an online machine uptime by the time since its heartbeat', () => {
    const now = Date.parse('2026-01-01T00:01:00Z')
    expect(formatUptime(90061, '2026-01-01T00:00:00Z', false, now)).toBe('1 d 1 h')
    expect(formatUptime(3500, '2026-01-01T00:00:00Z', true, now)).toBe('59 min 20 s')
    expect(formatUptime(null)).toBe('—')
    expect(formatUptime(-1)).toBe('—')
  })
})

describe('formatLoad', () => {
  it('shows the three averages or a dash', () => {
    expect(formatLoad([0.5, 0.25, 1])).toBe('0.50 0.25 1.00')
    expect(formatLoad([])).toBe('—')
    expect(formatLoad(undefined)).toBe('—')
  })
})

describe('groupNameProblem', () => {
  it('accepts what the API accepts and names what is wrong', () => {
    expect(groupNameProblem(' web-1_a ')).toBeNull()
    expect(groupNameProblem('')).toBe('name the group')
    expect(groupNameProblem('web servers')).toContain('not a group name')
    expect(groupNameProblem('a.b')).toContain('not a group name')
    expect(groupNameProblem('x'.repeat(65))).toBe('at most 64 characters')
  })
})

describe('eachLimited', () => {
  it('runs every item, a few at a time, and reports each in order', async () => {
    let running = 0
    let peak = 0
    const outcomes = await eachLimited([1, 2, 3, 4, 5, 6], 2, async (n) => {
      running++
      peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, 5))
      running--
      if (n === 4) throw new Error('not found')
      return n * 10
    })
    expect(peak).toBe(2)
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, false, true, true])
    expect(outcomes[0].value).toBe(10)
    expect(outcomes[3].error).toBe('not found')
    expect(summarize(outcomes, (n) => `pc-${n}`, 'added')).toBe('5 of 6 added; pc-4: not found')
    expect(await eachLimited([], 4, async () => 1)).toEqual([])
  })
  it('summarizes a clean run in a few words, and long failures briefly', () => {
    expect(summarize([{ item: 'a', ok: true }], (s) => s, 'added to web')).toBe('1 added to web')
    const failed = ['a', 'b', 'c', 'd', 'e'].map((item) => ({ item, ok: false, error: 'x' }))
    expect(summarize(failed, (s) => s)).toBe('0 of 5 done; a: x; b: x; c: x; 2 more failed')
  })
})
