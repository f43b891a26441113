// Sorting, filtering and paging of table rows: the logic behind DataTable, kept pure.

export type SortDir = 'asc' | 'desc'
export type Cell = string | number | boolean | null | undefined

/** Orders two cells: empty cells last, numbers by value, text naturally ("pc2" < "pc10"). */
export function compareCells(a: Cell, b: Cell): number {
  const emptyA = a === null || a === undefined || a === ''
  const emptyB = b === null || b === undefined || b === ''
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' })
}

/** A stable sort by one column; empty cells stay last in both directions. */
export function sortRows<T>(rows: readonly T[], key: (row: T) => Cell, dir: SortDir): T[] {
  const decorated = rows.map((row, i) => ({ row, i, k: key(row) }))
  decorated.sort((x, y) => {
    const emptyX = x.k === null || x.k === undefined || x.k === ''
    const emptyY = y.k === null || y.k === undefined || y.k === ''
    if (emptyX !== emptyY) return emptyX ? 1 : -1
    const c = compareCells(x.k, y.k)
    return (dir === 'asc' ? c : -c) || x.i - y.i
  })
  return decorated.map((d) => d.row)
}

/** Rows whose text contains every whitespace-separated term of `query`, case-insensitively. */
export function filterRows<T>(rows: readonly T[], query: string, text: (row: T) => string): T[] {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (terms.length === 0) return rows.slice()
  return rows.filter((row) => {
    const hay = text(row).toLowerCase()
    return terms.every((t) => hay.includes(t))
  })
}

export interface PageOf<T> {
  rows: T[]
  page: number
  pages: number
  total: number
}

/** One page (0-based, clamped into range) of `size` rows. */
export function pageRows<T>(rows: readonly T[], page: number, size: number): PageOf<T> {
  const pages = Math.max(1, Math.ceil(rows.length / size))
  const p = Math.min(Math.max(0, page), pages - 1)
  return { rows: rows.slice(p * size, p * size + size), page: p, pages, total: rows.length }
}

/** The next sort state when a header is clicked: asc → desc → asc, a new column starts asc. */
export function nextSort(current: { key: string; dir: SortDir } | null, key: string): { key: string; dir: SortDir } {
  if (current && current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' }
  return { key, dir: 'asc' }
}
