import { describe, expect, it } from 'vitest'
import { formatDateTime } from './format'
import { collectsFacts, columnTypes, factValue, formatFact, inferHints, openSaved, pick, savedQuery, tableColumns, tableRows } from './facts'

describe('formatFact', () => {
  it('shows each value as its display type says', () => {
    expect(formatFact(1610612736, 'bytes')).toBe('1.5 GiB')
    expect(formatFact('2048', 'bytes')).toBe('2.0 KiB')
    expect(formatFact(1234567.891, 'number')).toBe('1,234,567.89')
    expect(formatFact(1700000000, 'timestamp')).toBe(formatDateTime(1700000000 * 1000))
    expect(formatFact(1700000000000, 'timestamp')).toBe(formatDateTime(1700000000000))
    expect(formatFact('2026-01-02T03:04:05Z', 'timestamp')).toBe(formatDateTime('2026-01-02T03:04:05Z'))
  })
  it('keeps values that do not fit their type, and says missing plainly', () => {
    expect(formatFact('n/a', 'bytes')).toBe('n/a')
    expect(formatFact('soon', 'timestamp')).toBe('soon')
    expect(formatFact(null, 'bytes')).toBe('—')
    expect(formatFact(undefined)).toBe('—')
    expect(formatFact(true)).toBe('yes')
    expect(formatFact(['a', 2])).toBe('a, 2')
    expect(formatFact({ a: 1 })).toBe('{"a":1}')
  })
})

describe('factValue', () => {
  it('sorts sizes as numbers and tables by their row count', () => {
    expect(factValue('2048', 'bytes')).toBe(2048)
    expect(factValue([{ a: 1 }, { a: 2 }], 'table')).toBe(2)
    expect(factValue({ a: 1 })).toBe('{"a":1}')
    expect(factValue(undefined)).toBeNull()
  })
})

describe('nested tables', () => {
  it('reads rows and their columns from the hint or the rows', () => {
    const v = [{ letter: 'C', free: 1024 }, { letter: 'D', label: 'data' }, 'junk']
    expect(tableRows(v)).toHaveLength(2)
    expect(tableRows({ letter: 'C' })).toEqual([{ letter: 'C' }])
    expect(tableRows('x')).toEqual([])
    expect(tableColumns({ field: 'volumes' }, tableRows(v)).map((c) => c.field)).toEqual(['letter', 'free', 'label'])
    const hinted = { field: 'volumes', type: 'table', columns: [{ field: 'free', type: 'bytes' }] }
    expect(tableColumns(hinted, tableRows(v))).toEqual(hinted.columns)
  })
  it('infers columns for jobs without display hints', () => {
    const hints = inferHints([{ os: 'linux', disks: [{ name: 'sda' }] }, { os: 'linux', kernel: '6.1', tags: ['a'] }])
    expect(hints).toEqual([{ field: 'os' }, { field: 'disks', type: 'table' }, { field: 'kernel' }, { field: 'tags' }])
    expect(inferHints([{ a: 1, b: 2, c: 3 }], 2)).toHaveLength(2)
  })
  it('types searched columns from the display field of the same list', () => {
    const display = [{ field: 'volumes', type: 'table', columns: [{ field: 'letter' }, { field: 'free', type: 'bytes' }] }]
    expect(columnTypes(display, 'volumes')).toEqual({ free: 'bytes' })
    expect(columnTypes(display, 'apps')).toEqual({})
    expect(columnTypes(undefined, 'volumes')).toEqual({})
  })
  it('picks dotted paths', () => {
    expect(pick({ os: { name: 'Debian' } }, 'os.name')).toBe('Debian')
    expect(pick({ os: 'x' }, 'os.name')).toBeUndefined()
  })
})

describe('collectsFacts', () => {
  it('is true only for jobs with an inventory hint', () => {
    expect(collectsFacts({ id: 'a', inventory: { display: [] } })).toBe(true)
    expect(collectsFacts({ id: 'a', inventory: {} })).toBe(true)
    expect(collectsFacts({ id: 'a' })).toBe(false)
    expect(collectsFacts({ id: 'a', inventory: null })).toBe(false)
    expect(collectsFacts(undefined)).toBe(false)
  })
})

describe('saved searches', () => {
  it('round-trips a search through its saved query', () => {
    const conditions = [
      { column: 'free', op: 'lt' as const, value: ' 100 ' },
      { column: '', op: 'eq' as const, value: 'ignored' },
      { column: 'letter', op: 'in' as const, value: 'C, D,' },
    ]
    const q = savedQuery('inv_volumes', conditions)
    expect(q).toBe('table=inv_volumes&free__lt=100&letter__in=C%2CD')
    expect(openSaved(q)).toEqual({ table: 'inv_volumes', where: 'free__lt=100&letter__in=C%2CD' })
    expect(openSaved('?table=inv_x')).toEqual({ table: 'inv_x', where: '' })
  })
})
