import { describe, expect, it } from 'vitest'
import { LineAssembler, type TailChunk, sinceParam } from './reach'

const chunk = (pc: string, text: string, extra: Partial<TailChunk> = {}): TailChunk => ({
  exec_id: 'e',
  pc_id: pc,
  result_id: 'r',
  seq: 0,
  stream: 'stdout',
  text,
  dropped_bytes: 0,
  done: false,
  ...extra,
})

describe('LineAssembler', () => {
  it('joins partial lines per machine and flushes them when the run is done', () => {
    const a = new LineAssembler()
    expect(a.push(chunk('a', 'one\ntw'))).toEqual([{ pc: 'a', stream: 'stdout', text: 'one' }])
    expect(a.push(chunk('b', 'x\n'))).toEqual([{ pc: 'b', stream: 'stdout', text: 'x' }])
    expect(a.push(chunk('a', 'o\nthr'))).toEqual([{ pc: 'a', stream: 'stdout', text: 'two' }])
    expect(a.push(chunk('a', '', { done: true }))).toEqual([{ pc: 'a', stream: 'stdout', text: 'thr' }])
  })

  it('says how much was dropped, once per increase', () => {
    const a = new LineAssembler()
    expect(a.push(chunk('a', '', { dropped_bytes: 10 }))[0].text).toContain('10 bytes')
    expect(a.push(chunk('a', '', { dropped_bytes: 10 }))).toEqual([])
  })
})

describe('sinceParam', () => {
  it('looks back from now, or not at all', () => {
    expect(sinceParam(3600, new Date('2026-01-01T12:00:00Z'))).toBe('2026-01-01T11:00:00.000Z')
    expect(sinceParam(null, new Date())).toBeUndefined()
  })
})
