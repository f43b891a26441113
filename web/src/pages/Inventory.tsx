// Inventory, three ways: one job's facts per machine (the columns its manifest's `display`
// names, each shown by its type: sizes, numbers, times, nested tables; else the raw facts);
// a search across the fleet in the tables that jobs `explode` their lists into (table, then
// column / operator / value conditions), which operators save by name for everyone or
// themselves (`SavedSearches`); and the history of changes between runs. The job picker offers
// only jobs with an `inventory` hint. Says "not available yet" on a backend without the
// inventory routes.

import { keepPreviousData, useQueries, useQuery, type UseQueryResult } from '@tanstack/react-query'
import { useMemo, useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { ApiError, api, qs } from '../api/client'
import type { DisplayField, ExplodeSpec, InventoryChange, InventorySearch, JobDetail, JobSummary, Page } from '../api/types'
import { DataTable, type Column } from '../components/DataTable'
import { Debounced } from '../components/Debounced'
import { SavedSearches } from '../components/SavedSearches'
import { Badge, Card, ErrorBox, NotAvailable, errorText } from '../components/ui'
import { collectsFacts, columnTypes, factLabel, factValue, formatFact, inferHints, openSaved, pick, savedQuery, tableColumns, tableRows, type DisplayHint } from '../lib/facts'
import { formatDateTime, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'
import { OP_LABELS, SEARCH_OPS, conditionForError, conditionParams, parseConditions, searchQuery, type Condition, type SearchOp } from '../lib/search'

interface InventoryFacts {
  pc_id: string
  job_id: string
  facts: unknown
  summary?: unknown
  collected_at: string
}

interface InventoryJobPage extends Page<InventoryFacts> {
  job_id: string
  display?: DisplayField[]
  summary?: DisplayField[]
  explode?: ExplodeSpec[]
}

function cell(v: unknown): string | number | boolean | null {
  if (v === undefined || v === null) return null
  return typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean)
}

const KEYS = ['view', 'job', 'page', 'table', 'where', 'pc'] as const
type UrlState = Record<(typeof KEYS)[number], string>
type SetUrl = (patch: Partial<Record<(typeof KEYS)[number], string | number | null>>) => void
const SIZE = 25

function useJobs() {
  return useQuery({ queryKey: ['jobs'], queryFn: ({ signal }) => api.get<JobSummary[]>('/api/jobs', signal) })
}

function JobFacts({ s, set }: { s: UrlState; set: SetUrl }) {
  const page = Number(s.page) || 0
  const manifests = useManifests()
  const inventoryJobs = manifests.items.filter((m) => collectsFacts(m)).map((m) => m.id)
  const inv = useQuery({
    queryKey: ['inventory', s.job, page],
    queryFn: ({ signal }) => api.get<InventoryJobPage>(`/api/inventory/${encodeURIComponent(s.job)}${qs({ limit: SIZE, offset: page * SIZE })}`, signal),
    enabled: !!s.job,
    retry: false,
    placeholderData: keepPreviousData,
  })
  const routeMissing = inv.error instanceof ApiError && inv.error.routeMissing
  const noInventory = inv.error instanceof ApiError && inv.error.status === 404 && !routeMissing
  const hinted = inv.data?.display?.length ? inv.data.display : (inv.data?.summary ?? [])
  const fields = hinted.length ? hinted : inferHints((inv.data?.items ?? []).map((r) => r.facts))
  const columns: Column<InventoryFacts>[] = [
    { key: 'pc_id', header: 'Machine', value: (r) => r.pc_id, render: (r) => <Link to={`/agents/${encodeURIComponent(r.pc_id)}`}>{r.pc_id}</Link> },
    ...(fields.length
      ? fields.map((f) => ({
          key: `f:${f.field}`,
          header: factLabel(f),
          value: (r: InventoryFacts) => factValue(pick(r.facts, f.field), f.type),
          render: (r: InventoryFacts) => <Fact v={pick(r.facts, f.field)} hint={f} />,
          align: f.type === 'bytes' || f.type === 'number' ? ('right' as const) : undefined,
        }))
      : [{ key: 'facts', header: 'Facts', value: (r: InventoryFacts) => cell(r.facts), render: (r: InventoryFacts) => <code className="clip">{JSON.stringify(r.facts)}</code> }]),
    { key: 'collected_at', header: 'Collected', value: (r) => r.collected_at, render: (r) => <span title={formatDateTime(r.collected_at)}>{formatRelative(r.collected_at)}</span> },
  ]
  const tables = inv.data?.explode ?? []
  return (
    <>
      <div className="row">
        <label className="inline">
          Job
          <select value={s.job} onChange={(e) => set({ job: e.target.value, page: null })}>
            <option value="">pick a job…</option>
            {s.job && !inventoryJobs.includes(s.job) && <option value={s.job}>{s.job}</option>}
            {inventoryJobs.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
          {manifests.loading && <span className="muted small">finding jobs…</span>}
        </label>
        {tables.length > 0 && (
          <span className="muted">
            Search its lists:{' '}
            {tables.map((t) => (
              <button key={t.table} type="button" className="chip small" onClick={() => set({ view: 'search', table: t.table, where: null, page: null })}>
                {t.table}
              </button>
            ))}
          </span>
        )}
        {s.job && inv.data && (
          <button type="button" className="linkish" onClick={() => set({ view: 'history', page: null })}>
            What changed
          </button>
        )}
      </div>
      {routeMissing ? (
        <Card title="Inventory">
          <NotAvailable />
        </Card>
      ) : noInventory ? (
        <p className="alert info">This job has collected no inventory (it has no `inventory` hint, or no machine has run it yet).</p>
      ) : s.job ? (
        <>
          <ErrorBox error={inv.error} />
          <DataTable
            label={`Inventory of ${s.job}`}
            filename={`inventory-${s.job}`}
            rows={inv.data?.items}
            loading={inv.isPending}
            rowKey={(r) => r.pc_id}
            columns={columns}
            empty="No machine has reported this job's facts yet."
            server={{
              total: inv.data?.total ?? 0,
              page,
              pageSize: SIZE,
              onPage: (p) => set({ page: p }),
              exportAll: async () => (await api.get<InventoryJobPage>(`/api/inventory/${encodeURIComponent(s.job)}?limit=1000`)).items,
            }}
          />
        </>
      ) : (
        <p className="muted">
          {manifests.loading || inventoryJobs.length > 0 ? 'Pick a job that collects facts.' : 'No job collects facts yet: give a job an `inventory` hint (display, explode) in its manifest.'}
        </p>
      )}
    </>
  )
}

/** One fact as its display hint says; a `type: table` fact is a small table behind its row
 * count. */
function Fact({ v, hint }: { v: unknown; hint: DisplayHint }) {
  if (hint.type !== 'table') return v === null || v === undefined ? <span className="muted">—</span> : <>{formatFact(v, hint.type)}</>
  const rows = tableRows(v)
  if (rows.length === 0) return <span className="muted">none</span>
  const cols = tableColumns(hint, rows)
  return (
    <details className="facts">
      <summary>
        {rows.length} {rows.length === 1 ? 'row' : 'rows'}
      </summary>
      <table className="fact-table" aria-label={factLabel(hint)}>
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c.field} className={c.type === 'bytes' || c.type === 'number' ? 'num' : undefined}>
                {factLabel(c)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {cols.map((c) => (
                <td key={c.field} className={c.type === 'bytes' || c.type === 'number' ? 'num' : undefined}>
                  {formatFact(pick(r, c.field), c.type)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  )
}

/** A fact or a row value, compact: text as is, lists and objects as JSON. */
function Value({ v }: { v: unknown }) {
  if (v === null || v === undefined) return <span className="muted">—</span>
  if (typeof v === 'object') return <code className="clip">{JSON.stringify(v)}</code>
  return <>{String(v)}</>
}

interface TableInfo {
  job_id: string
  spec: ExplodeSpec
  /** The job's display hints (how the list's columns are shown). */
  display?: DisplayHint[]
}

type Manifest = JobDetail['manifest']

function manifestsOf(results: UseQueryResult<JobDetail>[]): { items: Manifest[]; loading: boolean; error: unknown } {
  const items = results.flatMap((r) => (r.data?.manifest ? [r.data.manifest] : []))
  return { items, loading: results.some((r) => r.isPending), error: results.find((r) => r.error)?.error }
}

/** Every job's manifest (for its inventory hint). */
function useManifests() {
  const jobs = useJobs()
  const found = useQueries({
    queries: (jobs.data ?? []).map((j) => ({
      queryKey: ['job', j.id],
      queryFn: ({ signal }: { signal: AbortSignal }) => api.get<JobDetail>(`/api/jobs/${encodeURIComponent(j.id)}`, signal),
      staleTime: 60_000,
    })),
    combine: manifestsOf,
  })
  return { ...found, loading: jobs.isPending || found.loading, error: jobs.error ?? found.error }
}

/** The explode tables of every job, from the job manifests. */
function useExplodeTables() {
  const manifests = useManifests()
  const tables: TableInfo[] = []
  for (const m of manifests.items) {
    const inv = m.inventory as { explode?: ExplodeSpec[]; display?: DisplayHint[] } | undefined
    for (const spec of inv?.explode ?? []) if (!tables.some((t) => t.spec.table === spec.table)) tables.push({ job_id: m.id, spec, display: inv?.display })
  }
  tables.sort((a, b) => a.spec.table.localeCompare(b.spec.table))
  return { tables, loading: manifests.loading, error: manifests.error }
}

const BLANK: Condition = { column: '', op: 'eq', value: '' }

function Search({ s, set }: { s: UrlState; set: SetUrl }) {
  const page = Number(s.page) || 0
  const known = useExplodeTables()
  const info = known.tables.find((t) => t.spec.table === s.table)
  const columns = useMemo(() => ['pc_id', 'job_id', 'collected_at', ...(info?.spec.columns.map((c) => c.field) ?? [])], [info])
  const typeOf = (column: string) => info?.spec.columns.find((c) => c.field === column)?.type ?? 'text'
  const shownAs = columnTypes(info?.display, info?.spec.field ?? '')
  const labelOf = (column: string) => info?.display?.find((d) => d.field === info.spec.field)?.columns?.find((c) => c.field === column)?.label ?? column
  const applied = useMemo(() => parseConditions(s.where), [s.where])
  const [drafts, setDrafts] = useState<Condition[] | null>(null)
  const rows = drafts ?? (applied.length ? applied : [BLANK])
  const q = useQuery({
    queryKey: ['inventory', 'search', s.table, s.where, page],
    queryFn: ({ signal }) => api.get<InventorySearch>(`/api/inventory/search${searchQuery(s.table, applied, { limit: SIZE, offset: page * SIZE })}`, signal),
    enabled: !!s.table,
    retry: false,
    placeholderData: keepPreviousData,
  })
  const err = q.error instanceof ApiError ? q.error : null
  const badRow = conditionForError(rows, err?.field)
  const tableError = err?.field === 'table' ? errorText(err) : null
  const update = (i: number, patch: Partial<Condition>) => setDrafts(rows.map((c, j) => (j === i ? { ...c, ...patch } : c)))
  const submit = (e: FormEvent) => {
    e.preventDefault()
    set({ where: conditionParams(rows).toString() || null, page: null })
  }
  const resultColumns: Column<Record<string, unknown>>[] = (q.data?.columns ?? []).map((c) => ({
    key: c,
    header: c === 'pc_id' ? 'Machine' : c === 'job_id' ? 'Job' : c === 'collected_at' ? 'Collected' : labelOf(c),
    value: (r) => cell(r[c]),
    render:
      c === 'pc_id'
        ? (r) => <Link to={`/agents/${encodeURIComponent(String(r[c]))}`}>{String(r[c])}</Link>
        : c === 'collected_at'
          ? (r) => <span title={formatDateTime(r[c] as string)}>{formatRelative(r[c] as string)}</span>
          : shownAs[c]
            ? (r) => <span title={String(r[c] ?? '')}>{formatFact(r[c], shownAs[c])}</span>
            : (r) => <Value v={r[c]} />,
    align: typeOf(c) === 'text' ? undefined : 'right',
  }))
  const open = (query: string) => {
    setDrafts(null)
    set({ ...openSaved(query), page: null })
  }
  return (
    <>
      <SavedSearches current={s.table ? savedQuery(s.table, applied) : ''} onOpen={open} />
      <Card title="Search">
        <form className="stack" onSubmit={submit}>
          <label className="inline">
            Table
            <select
              value={s.table}
              onChange={(e) => {
                setDrafts(null)
                set({ table: e.target.value, where: null, page: null })
              }}
              aria-invalid={!!tableError}
            >
              <option value="">pick a table…</option>
              {s.table && !info && <option value={s.table}>{s.table}</option>}
              {known.tables.map((t) => (
                <option key={t.spec.table} value={t.spec.table}>
                  {t.spec.table} (job {t.job_id}, list {t.spec.field})
                </option>
              ))}
            </select>
            {known.loading && <span className="muted small">finding tables…</span>}
          </label>
          {tableError && <span className="field-error">{tableError}</span>}
          {!known.loading && known.tables.length === 0 && <p className="muted">No job explodes a list into a table yet (an `inventory.explode` entry in its manifest).</p>}
          <ErrorBox error={known.error} />
          {s.table && (
            <fieldset>
              <legend>Every condition must hold</legend>
              {rows.map((c, i) => (
                <div key={i} className="condition">
                  <div className="row">
                    <select aria-label={`Column ${i + 1}`} value={c.column} onChange={(e) => update(i, { column: e.target.value })} aria-invalid={badRow === i}>
                      <option value="">column…</option>
                      {!columns.includes(c.column) && c.column && <option value={c.column}>{c.column}</option>}
                      {columns.map((col) => (
                        <option key={col} value={col}>
                          {col}
                        </option>
                      ))}
                    </select>
                    <select aria-label={`Operator ${i + 1}`} value={c.op} onChange={(e) => update(i, { op: e.target.value as SearchOp })}>
                      {SEARCH_OPS.map((op) => (
                        <option key={op} value={op}>
                          {OP_LABELS[op]}
                        </option>
                      ))}
                    </select>
                    <input
                      aria-label={`Value ${i + 1}`}
                      value={c.value}
                      onChange={(e) => update(i, { value: e.target.value })}
                      placeholder={c.op === 'in' ? 'a, b, c' : typeOf(c.column) === 'text' ? 'value' : 'number'}
                      inputMode={typeOf(c.column) === 'text' || c.op === 'in' ? undefined : 'decimal'}
                      aria-invalid={badRow === i}
                    />
                    <button type="button" className="btn small ghost" aria-label={`Remove condition ${i + 1}`} onClick={() => setDrafts(rows.length > 1 ? rows.filter((_, j) => j !== i) : [BLANK])}>
                      ✕
                    </button>
                  </div>
                  {badRow === i && err && <span className="field-error">{err.message}</span>}
                </div>
              ))}
              <div className="row">
                <button type="button" className="btn small" onClick={() => setDrafts([...rows, { ...BLANK }])}>
                  Add condition
                </button>
              </div>
            </fieldset>
          )}
          {s.table && (
            <div className="row">
              <button type="submit" className="btn primary">
                Search
              </button>
              <code className="muted small clip" title="the API query">
                GET /api/inventory/search{searchQuery(s.table, rows)}
              </code>
            </div>
          )}
        </form>
      </Card>
      {s.table && (
        <>
          {err && badRow < 0 && !tableError && <ErrorBox error={err} />}
          {q.error && !err && <ErrorBox error={q.error} />}
          <DataTable
            label={`Rows of ${s.table}`}
            filename={`search-${s.table}`}
            rows={q.data?.items}
            loading={q.isPending && !q.error}
            rowKey={(r) => JSON.stringify(r)}
            columns={resultColumns}
            empty={q.error ? 'The search did not run.' : 'No row matches.'}
            server={{
              total: q.data?.total ?? 0,
              page,
              pageSize: SIZE,
              onPage: (p) => set({ page: p }),
              exportAll: async () => (await api.get<InventorySearch>(`/api/inventory/search${searchQuery(s.table, applied, { limit: 1000 })}`)).items,
            }}
          />
        </>
      )}
    </>
  )
}

const CHANGE_TONE: Record<string, 'ok' | 'bad' | 'warn'> = { added: 'ok', removed: 'bad', changed: 'warn' }

function History({ s, set }: { s: UrlState; set: SetUrl }) {
  const page = Number(s.page) || 0
  const inventoryJobs = useManifests()
    .items.filter((m) => collectsFacts(m))
    .map((m) => m.id)
  const filters = { pc_id: s.pc, job_id: s.job }
  const q = useQuery({
    queryKey: ['inventory', 'history', filters, page],
    queryFn: ({ signal }) => api.get<Page<InventoryChange>>(`/api/inventory/history${qs({ ...filters, limit: SIZE, offset: page * SIZE })}`, signal),
    retry: false,
    placeholderData: keepPreviousData,
  })
  return (
    <DataTable
      label="Inventory changes"
      filename="inventory-history"
      rows={q.data?.items}
      loading={q.isPending}
      error={q.error}
      rowKey={(c) => String(c.id)}
      empty="No change recorded (history is kept for the lists and facts a job's manifest tracks)."
      server={{
        total: q.data?.total ?? 0,
        page,
        pageSize: SIZE,
        onPage: (p) => set({ page: p }),
        exportAll: async () => (await api.get<Page<InventoryChange>>(`/api/inventory/history${qs({ ...filters, limit: 1000 })}`)).items,
      }}
      toolbar={
        <>
          <Debounced aria-label="Machine" placeholder="machine id" value={s.pc} onChange={(v) => set({ pc: v.trim(), page: null })} className="short" />
          <select aria-label="Job" value={s.job} onChange={(e) => set({ job: e.target.value, page: null })}>
            <option value="">every job</option>
            {s.job && !inventoryJobs.includes(s.job) && <option value={s.job}>{s.job}</option>}
            {inventoryJobs.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </>
      }
      columns={[
        { key: 'observed_at', header: 'When', value: (c) => c.observed_at, render: (c) => <span title={formatDateTime(c.observed_at)}>{formatRelative(c.observed_at)}</span> },
        { key: 'pc_id', header: 'Machine', value: (c) => c.pc_id, render: (c) => <Link to={`/agents/${encodeURIComponent(c.pc_id)}`}>{c.pc_id}</Link> },
        { key: 'job_id', header: 'Job', value: (c) => c.job_id, wide: true },
        { key: 'field_path', header: 'What', value: (c) => c.field_path, render: (c) => <code>{c.field_path}</code> },
        { key: 'identity', header: 'Item', value: (c) => cell(c.identity), render: (c) => <Value v={c.identity} /> },
        { key: 'change_kind', header: 'Change', value: (c) => c.change_kind, render: (c) => <Badge tone={CHANGE_TONE[c.change_kind]}>{c.change_kind}</Badge> },
        { key: 'before', header: 'Before', value: (c) => cell(c.before), render: (c) => <Value v={c.before} />, wide: true },
        { key: 'after', header: 'After', value: (c) => cell(c.after), render: (c) => <Value v={c.after} /> },
      ]}
    />
  )
}

const VIEWS = [
  { view: '', label: 'Facts by job' },
  { view: 'search', label: 'Search' },
  { view: 'history', label: 'History' },
]

export function InventoryPage() {
  const [s, set] = useUrlState(KEYS)
  const view = VIEWS.some((v) => v.view === s.view) ? s.view : ''
  return (
    <div className="page">
      <h1>Inventory</h1>
      <p className="muted">Facts collected by jobs with an `inventory` hint: per job and machine, searched across the fleet, and how they changed.</p>
      <div className="segmented" role="tablist" aria-label="Inventory views">
        {VIEWS.map((v) => (
          <button key={v.view} type="button" role="tab" aria-selected={view === v.view} className={`btn small ${view === v.view ? 'active' : ''}`} onClick={() => set({ view: v.view || null, page: null })}>
            {v.label}
          </button>
        ))}
      </div>
      {view === 'search' ? <Search s={s} set={set} /> : view === 'history' ? <History s={s} set={set} /> : <JobFacts s={s} set={set} />}
    </div>
  )
}
