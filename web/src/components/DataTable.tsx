// The one table of the app: sortable headers, a filter box, paging and CSV export. Rows are
// sorted/filtered/paged here ("client" mode) unless `server` hands those to the API.

import { useEffect, useId, useMemo, useState, type ReactNode } from 'react'
import { downloadCsv, toCsv } from '../lib/csv'
import { filterRows, nextSort, pageRows, sortRows, type Cell, type SortDir } from '../lib/table'
import { ErrorBox } from './ui'

export interface Column<T> {
  key: string
  header: string
  /** The cell's value: used to sort, filter and export. */
  value: (row: T) => Cell
  /** What is shown; defaults to the value. */
  render?: (row: T) => ReactNode
  sortable?: boolean
  align?: 'right'
  /** Hidden on narrow screens (still exported). */
  wide?: boolean
  /** Left out of the CSV (buttons). */
  noExport?: boolean
}

export interface SortState {
  key: string
  dir: SortDir
}

export interface ServerSide<T> {
  total: number
  page: number
  pageSize: number
  onPage: (page: number) => void
  onPageSize?: (size: number) => void
  sort?: SortState | null
  onSort?: (s: SortState) => void
  /** Columns the server can sort by. Without onSort, the loaded page is sorted here. */
  sortable?: string[]
  filter?: string
  /** Without it, the loaded page is filtered here. */
  onFilter?: (q: string) => void
  filterPlaceholder?: string
  /** Fetches every matching row for CSV export (else the current page is exported). */
  exportAll?: () => Promise<T[]>
}

interface Props<T> {
  label: string
  rows: T[] | undefined
  columns: Column<T>[]
  rowKey: (row: T) => string
  filename: string
  loading?: boolean
  error?: unknown
  empty?: ReactNode
  pageSize?: number
  initialSort?: SortState
  toolbar?: ReactNode
  server?: ServerSide<T>
  rowClass?: (row: T) => string | undefined
}

const SIZES = [10, 25, 50, 100]

export function DataTable<T>(props: Props<T>) {
  const { columns, server } = props
  const [query, setQuery] = useState('')
  const [sort, setSort] = useState<SortState | null>(props.initialSort ?? null)
  const [page, setPage] = useState(0)
  const [size, setSize] = useState(props.pageSize ?? 25)
  const [exporting, setExporting] = useState(false)
  const [filterText, setFilterText] = useState(server?.filter ?? '')
  const filterId = useId()

  // Server filters are sent after typing pauses.
  const onFilter = server?.onFilter
  const serverFilter = server?.filter ?? ''
  useEffect(() => {
    if (!onFilter || filterText === serverFilter) return
    const t = setTimeout(() => onFilter(filterText), 300)
    return () => clearTimeout(t)
  }, [filterText, onFilter, serverFilter])

  // Whatever the server does not do is done here, on the rows loaded.
  const localSort = !server?.onSort
  const localFilter = !server?.onFilter
  const text = useMemo(() => (row: T) => columns.map((c) => String(c.value(row) ?? '')).join(' \u0000 '), [columns])
  const processed = useMemo(() => {
    let rows = props.rows ?? []
    if (localFilter) rows = filterRows(rows, query, text)
    const col = localSort && sort && columns.find((c) => c.key === sort.key)
    return col ? sortRows(rows, col.value, sort.dir) : rows
  }, [props.rows, localFilter, localSort, query, text, sort, columns])

  const view = server
    ? { rows: processed, page: server.page, pages: Math.max(1, Math.ceil(server.total / server.pageSize)), total: server.total }
    : pageRows(processed, page, size)
  const pageSize = server ? server.pageSize : size
  const activeSort = localSort ? sort : (server?.sort ?? null)

  const sortableCol = (c: Column<T>) => c.sortable !== false && (localSort || (server?.sortable ?? []).includes(c.key))

  const clickSort = (key: string) => {
    const s = nextSort(activeSort, key)
    if (!localSort) server?.onSort?.(s)
    else {
      setSort(s)
      if (!server) setPage(0)
    }
  }
  const goPage = (p: number) => (server ? server.onPage(p) : setPage(p))
  const changeSize = (n: number) => {
    if (server) server.onPageSize?.(n)
    else {
      setSize(n)
      setPage(0)
    }
  }

  const exportCsv = async () => {
    setExporting(true)
    try {
      const rows = server ? (server.exportAll ? await server.exportAll() : processed) : processed
      const csv = toCsv(
        columns.filter((c) => !c.noExport).map((c) => ({ header: c.header, value: (r: T) => c.value(r) })),
        rows,
      )
      downloadCsv(`${props.filename}.csv`, csv)
    } finally {
      setExporting(false)
    }
  }

  const first = view.total === 0 ? 0 : view.page * pageSize + 1
  const last = Math.min(view.total, view.page * pageSize + view.rows.length)
  const filterValue = localFilter ? query : filterText

  return (
    <div className="datatable">
      <div className="dt-toolbar">
        <div className="dt-filter">
          <label htmlFor={filterId} className="sr-only">
            Filter {props.label}
          </label>
          <input
            id={filterId}
            type="search"
            placeholder={server?.filterPlaceholder ?? (server ? 'Filter this page…' : 'Filter…')}
            value={filterValue}
            onChange={(e) => {
              if (!localFilter) setFilterText(e.target.value)
              else {
                setQuery(e.target.value)
                if (!server) setPage(0)
              }
            }}
          />
        </div>
        {props.toolbar}
        <span className="dt-spacer" />
        <button type="button" className="btn small" onClick={exportCsv} disabled={exporting || view.total === 0}>
          {exporting ? 'Exporting…' : 'Export CSV'}
        </button>
      </div>
      {props.error ? <ErrorBox error={props.error} /> : null}
      <div className="dt-scroll">
        <table aria-label={props.label} aria-busy={props.loading || undefined}>
          <thead>
            <tr>
              {columns.map((c) => {
                const sorted = activeSort?.key === c.key ? activeSort.dir : undefined
                return (
                  <th
                    key={c.key}
                    scope="col"
                    className={[c.align === 'right' ? 'num' : '', c.wide ? 'wide' : ''].join(' ').trim() || undefined}
                    aria-sort={sorted ? (sorted === 'asc' ? 'ascending' : 'descending') : undefined}
                  >
                    {sortableCol(c) ? (
                      <button type="button" className="th-sort" onClick={() => clickSort(c.key)}>
                        {c.header}
                        <span aria-hidden="true" className="sort-mark">
                          {sorted === 'asc' ? '▲' : sorted === 'desc' ? '▼' : '↕'}
                        </span>
                      </button>
                    ) : (
                      c.header
                    )}
                  </th>
                )
              })}
            </tr>
          </thead>
          <tbody>
            {view.rows.map((row) => (
              <tr key={props.rowKey(row)} className={props.rowClass?.(row)}>
                {columns.map((c) => (
                  <td key={c.key} className={[c.align === 'right' ? 'num' : '', c.wide ? 'wide' : ''].join(' ').trim() || undefined} data-label={c.header}>
                    {c.render ? c.render(row) : String(c.value(row) ?? '')}
                  </td>
                ))}
              </tr>
            ))}
            {view.rows.length === 0 && (
              <tr>
                <td colSpan={columns.length} className="dt-empty">
                  {props.loading ? 'Loading…' : filterValue ? 'Nothing matches the filter.' : (props.empty ?? 'Nothing here yet.')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <nav className="dt-pager" aria-label={`${props.label} pages`}>
        <span className="muted">
          {first}–{last} of {view.total}
        </span>
        <span className="dt-spacer" />
        <label className="dt-size">
          <span className="sr-only">Rows per page</span>
          <select value={pageSize} onChange={(e) => changeSize(Number(e.target.value))} disabled={!!server && !server.onPageSize}>
            {SIZES.map((n) => (
              <option key={n} value={n}>
                {n} / page
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="btn small" onClick={() => goPage(view.page - 1)} disabled={view.page <= 0} aria-label="Previous page">
          ‹
        </button>
        <span aria-live="polite">
          {view.page + 1} / {view.pages}
        </span>
        <button type="button" className="btn small" onClick={() => goPage(view.page + 1)} disabled={view.page >= view.pages - 1} aria-label="Next page">
          ›
        </button>
      </nav>
    </div>
  )
}
