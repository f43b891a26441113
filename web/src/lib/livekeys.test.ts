import { describe, expect, it } from 'vitest'
import { keysFor } from './livekeys'

describe('keysFor', () => {
  it('maps each event to the queries that show it', () => {
    expect(keysFor({ event: 'result', data: '{"exec_id":"e1","pc_id":"pc","result_id":"r","exit_code":0}' })).toEqual([
      ['execution', 'e1'],
      ['executions'],
      ['results'],
      ['dashboard'],
    ])
    expect(keysFor({ event: 'agent', data: '{"pc_id":"pc1","online":false}' })).toContainEqual(['agent', 'pc1'])
    expect(keysFor({ event: 'timeline', data: '{"pc_id":"pc1","kind":"boot"}' })).toContainEqual(['obs'])
  })
  it('refetches everything after a lag, nothing for junk', () => {
    expect(keysFor({ event: 'lagged', data: '12' })).toBeNull()
    expect(keysFor({ event: 'result', data: 'not json' })).toEqual([])
    expect(keysFor({ event: 'other', data: '{}' })).toEqual([])
  })
})
