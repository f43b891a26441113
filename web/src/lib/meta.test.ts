import { describe, expect, it } from 'vitest'
import { metaKeyError, withEntry } from './meta'

describe('agent attributes', () => {
  it('set, replace and remove keep the list sorted', () => {
    let meta = withEntry({ entries: [] }, 'owner', 'alice')
    meta = withEntry(meta, 'location', 'room 4')
    meta = withEntry(meta, 'owner', 'bob')
    expect(meta.entries).toEqual([
      { key: 'location', value: 'room 4' },
      { key: 'owner', value: 'bob' },
    ])
    expect(withEntry(meta, 'owner', '').entries.map((e) => e.key)).toEqual(['location'])
  })
  it('names follow the backend rule', () => {
    expect(metaKeyError('asset-tag')).toBeNull()
    expect(metaKeyError('asset tag')).not.toBeNull()
    expect(metaKeyError('')).not.toBeNull()
  })
})
