// The inventory search's query string: `table=<explode table>&<column>__<op>=<value>…`, built
// from the rows of the query builder and read back (the page keeps it in its URL).

export const SEARCH_OPS = ['eq', 'ne', 'contains', 'startswith', 'gt', 'gte', 'lt', 'lte', 'in'] as const
export type SearchOp = (typeof SEARCH_OPS)[number]

export const OP_LABELS: Record<SearchOp, string> = {
  eq: '=',
  ne: '≠',
  contains: 'contains',
  startswith: 'starts with',
  gt: '>',
  gte: '≥',
  lt: '<',
  lte: '≤',
  in: 'is one of',
}

export interface Condition {
  column: string
  op: SearchOp
  value: string
}

function isOp(s: string): s is SearchOp {
  return (SEARCH_OPS as readonly string[]).includes(s)
}

/** The query parameter of one condition: always `column__op`, so a column whose name holds
 * `__` is still read right by the server. */
export function conditionParam(c: Pick<Condition, 'column' | 'op'>): string {
  return `${c.column}__${c.op}`
}

/** `in` takes a comma list: "a, b,,c" → "a,b,c". */
function normalValue(c: Condition): string {
  return c.op === 'in'
    ? c.value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
        .join(',')
    : c.value.trim()
}

/** The conditions that say something: a column and a value. */
export function usedConditions(conditions: Condition[]): Condition[] {
  return conditions.filter((c) => c.column.trim() !== '' && normalValue(c) !== '')
}

/** The conditions as query parameters, in order (blank rows left out). */
export function conditionParams(conditions: Condition[]): URLSearchParams {
  const sp = new URLSearchParams()
  for (const c of usedConditions(conditions)) sp.append(conditionParam(c), normalValue(c))
  return sp
}

/** The whole query string of GET /api/inventory/search, with its leading "?". */
export function searchQuery(table: string, conditions: Condition[], paging: { limit?: number; offset?: number } = {}): string {
  const sp = new URLSearchParams()
  sp.set('table', table)
  for (const [k, v] of conditionParams(conditions)) sp.append(k, v)
  if (paging.limit !== undefined) sp.set('limit', String(paging.limit))
  if (paging.offset) sp.set('offset', String(paging.offset))
  return `?${sp.toString()}`
}

/** Conditions back from their query parameters; a bare `column=value` is `eq`. */
export function parseConditions(query: string): Condition[] {
  const out: Condition[] = []
  for (const [key, value] of new URLSearchParams(query)) {
    if (key === 'table' || key === 'limit' || key === 'offset') continue
    const at = key.lastIndexOf('__')
    const op = at > 0 ? key.slice(at + 2) : ''
    out.push(at > 0 && isOp(op) ? { column: key.slice(0, at), op, value } : { column: key, op: 'eq', value })
  }
  return out
}

/** Which condition a server error is about (its `field` is the parameter's name), or -1. */
export function conditionForError(conditions: Condition[], field: string | null | undefined): number {
  if (!field) return -1
  return conditions.findIndex((c) => conditionParam(c) === field)
}
