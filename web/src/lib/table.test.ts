import { describe, expect, it } from 'vitest'
import { compareCells, filterRows, nextSort, pageRows, sortRows } from './table'

const rows = [
  { id: 'pc10', cpu: 5, os: 'linux' },
  { id: 'pc2', cpu: null, os: 'Linux' },
  { id: 'pc1', cpu: 50, os: 'windows' },
  { id: 'pc3', cpu: 5, os: 'macos' },
]

describe('sorting', () => {
  it('orders text naturally and numbers by value', () => {
    expect(sortRows(rows, (r) => r.id, 'asc').map((r) => r.id)).toEqual(['pc1', 'pc2', 'pc3', 'pc10'])
    expect(sortRows(rows, (r) => r.id, 'desc').map((r) => r.id)).toEqual(['pc10', 'pc3', 'pc2', 'pc1'])
  })
  it('is stable and keeps empty cells last both ways', () => {
    expect(sortRows(rows, (r) => r.cpu, 'asc').map((r) => r.id)).toEqual(['pc10', 'pc3', 'pc1', 'pc2'])
    expect(sortRows(rows, (r) => r.cpu, 'desc').map((r) => r.id)).toEqual(['pc1', 'pc10', 'pc3', 'pc2'])
  })
  it('does not change the input', () => {
    const copy = rows.slice()
    sortRows(rows, (r) => r.id, 'asc')
    expect(rows).toEqual(copy)
  })
  it('compares cells', () => {
    expect(compareCells(2, 10)).toBeLessThan(0)
    expect(compareCells('a', 'B')).toBeLessThan(0)
    expect(compareCells(null, 'a')).toBeGreaterThan(0)
    expect(compareCells(undefined, null)).toBe(0)
  })
  it('toggles direction on the same column and starts new ones ascending', () => {
    expect(nextSort(null, 'id')).toEqual({ key: 'id', dir: 'asc' })
    expect(nextSort({ key: 'id', dir: 'asc' }, 'id')).toEqual({ key: 'id', dir: 'desc' })
    expect(nextSort({ key: 'id', dir: 'desc' }, 'id')).toEqual({ key: 'id', dir: 'asc' })
    expect(nextSort({ key: 'id', dir: 'desc' }, 'cpu')).toEqual({ key: 'cpu', dir: 'asc' })
  })
})

describe('filtering', () => {
  const text = (r: (typeof rows)[number]) => `${r.id} ${r.os}`
  it('matches every term, case-insensitively', () => {
    expect(filterRows(rows, 'LINUX', text).map((r) => r.id)).toEqual(['pc10', 'pc2'])
    expect(filterRows(rows, 'linux pc1', text).map((r) => r.id)).toEqual(['pc10'])
    expect(filterRows(rows, '  ', text)).toHaveLength(4)
    expect(filterRows(rows, 'solaris', text)).toHaveLength(0)
  })
})

describe('paging', () => {
  const many = Array.from({ length: 23 }, (_, i) => i)
  it('slices pages and clamps out-of-range pages', () => {
    expect(pageRows(many, 0, 10)).toMatchObject({ rows: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], page: 0, pages: 3, total: 23 })
    expect(pageRows(many, 2, 10).rows).toEqual([20, 21, 22])
    expect(pageRows(many, 9, 10).page).toBe(2)
    expect(pageRows(many, -1, 10).page).toBe(0)
    expect(pageRows([], 0, 10)).toMatchObject({ rows: [], page: 0, pages: 1, total: 0 })
  })
})
