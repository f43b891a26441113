// Client-side checks of a job manifest in the YAML editor, and the mapping of the server's
// 400/422 errors ({"error":{"code","message","field"}}) to a line of the text.

import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml'
import { checkDurationValue } from './duration'

export interface Problem {
  message: string
  /** 1-based line and column in the text, when known. */
  line?: number
  col?: number
  /** The manifest path, as the server names it: `execute.timeout`, `tags[0]`. */
  field?: string
  /** Where it came from: the local check or the server. */
  source: 'yaml' | 'server'
}

export const SHELLS = ['sh', 'bash', 'pwsh', 'powershell', 'cmd']
const TOP_KEYS = ['id', 'version', 'description', 'execute', 'staleness', 'inventory', 'check', 'emit', 'tags']
const EXECUTE_KEYS = ['shell', 'script', 'script_file', 'timeout', 'run_as', 'cwd']
// The server's rule (kanade-protocol ids::is_valid_id): a KV key may not end with '.'.
const ID_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_-])?$/

/** "inventory.explode[0].table" → ["inventory", "explode", 0, "table"]. */
export function splitPath(field: string): (string | number)[] {
  const out: (string | number)[] = []
  for (const part of field.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part)
    if (!m) {
      out.push(part)
      continue
    }
    if (m[1]) out.push(m[1])
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]))
  }
  return out
}

function parse(text: string): { doc: Document; lc: LineCounter } {
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true })
  return { doc, lc }
}

/** The 1-based line/column where `field` is written, or where its nearest parent is. */
export function locateField(text: string, field: string): { line: number; col: number } | null {
  const { doc, lc } = parse(text)
  const path = splitPath(field)
  for (let n = path.length; n > 0; n--) {
    const prefix = path.slice(0, n)
    // The key's own position reads better than its value's.
    const parent = n > 1 ? doc.getIn(prefix.slice(0, -1), true) : doc.contents
    const last = prefix[n - 1]
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined
      if (range) return lc.linePos(range[0])
    } else if (isSeq(parent) && typeof last === 'number') {
      const item = parent.items[last] as { range?: [number, number, number] } | undefined
      if (item?.range) return lc.linePos(item.range[0])
    }
  }
  return null
}

function at(text: string, field: string, message: string): Problem {
  const pos = locateField(text, field)
  return { message, field, source: 'yaml', ...(pos ? { line: pos.line, col: pos.col } : {}) }
}

/** The value at a manifest path (`rollout.waves[1].delay`), or undefined. */
function valueAt(root: unknown, field: string): unknown {
  let v: unknown = root
  for (const key of splitPath(field)) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<string | number, unknown>)[key]
  }
  return v
}

/** Each duration field present in `root` that the server's duration parser would refuse
 * (a typo, or more than 3650 days), at its line. */
function durationProblems(text: string, root: unknown, fields: string[]): Problem[] {
  const out: Problem[] = []
  for (const field of fields) {
    const v = valueAt(root, field)
    if (v === undefined || v === null) continue
    const why = checkDurationValue(v)
    if (why) out.push(at(text, field, `${field}: ${why}`))
  }
  return out
}

/** Problems a browser can find before sending: YAML syntax, and the manifest's basic shape
 * (unknown keys, required fields, id syntax, shell). The server checks everything again. */
export function checkManifest(text: string): Problem[] {
  if (text.trim() === '') return [{ message: 'the manifest is empty', source: 'yaml' }]
  const { doc, lc } = parse(text)
  const problems: Problem[] = []
  for (const e of doc.errors) {
    const pos = lc.linePos(e.pos[0])
    problems.push({ message: e.message.split('\n')[0], line: pos.line, col: pos.col, source: 'yaml' })
  }
  if (problems.length) return problems
  const value: unknown = doc.toJS()
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ message: 'the document must be a mapping of keys to values', line: 1, col: 1, source: 'yaml' }]
  }
  const m = value as Record<string, unknown>
  for (const key of Object.keys(m)) {
    if (!TOP_KEYS.includes(key)) problems.push(at(text, key, `unknown field \`${key}\`, expected one of ${TOP_KEYS.join(', ')}`))
  }
  if (typeof m.id !== 'string' || !ID_RE.test(m.id)) {
    problems.push(at(text, 'id', m.id === undefined ? 'missing field `id`' : 'id: 1-64 letters, digits, "-", "_" or ".", starting with a letter or digit, not ending with "."'))
  }
  if (m.version === undefined || m.version === null || String(m.version).trim() === '') {
    problems.push(at(text, 'version', 'missing field `version`'))
  }
  const ex = m.execute
  if (ex === undefined) {
    problems.push({ message: 'missing field `execute`', field: 'execute', source: 'yaml' })
  } else if (ex === null || typeof ex !== 'object' || Array.isArray(ex)) {
    problems.push(at(text, 'execute', 'execute must be a mapping with shell, script and timeout'))
  } else {
    const e = ex as Record<string, unknown>
    for (const key of Object.keys(e)) {
      if (!EXECUTE_KEYS.includes(key)) problems.push(at(text, `execute.${key}`, `unknown field \`${key}\` in execute, expected one of ${EXECUTE_KEYS.join(', ')}`))
    }
    if (!SHELLS.includes(String(e.shell))) {
      problems.push(at(text, e.shell === undefined ? 'execute' : 'execute.shell', `execute.shell must be one of ${SHELLS.join(', ')}`))
    }
    const script = typeof e.script === 'string' ? e.script.trim() : ''
    if (!script && e.script_file === undefined) problems.push(at(text, e.script === undefined ? 'execute' : 'execute.script', 'execute.script is required'))
    if (e.script_file !== undefined) problems.push(at(text, 'execute.script_file', 'the server cannot read your files: put the script inline in `script`'))
    if (e.timeout === undefined) problems.push(at(text, 'execute', 'missing field `timeout` in execute (e.g. 30s, 5m)'))
    else problems.push(...durationProblems(text, m, ['execute.timeout']))
  }
  if (m.tags !== undefined && !Array.isArray(m.tags)) problems.push(at(text, 'tags', 'tags must be a list'))
  return problems
}

const SCHEDULE_KEYS = ['id', 'job_id', 'description', 'enabled', 'when', 'target', 'rollout', 'jitter', 'starting_deadline', 'tz', 'active', 'constraints', 'on_failure', 'runs_on']
const WHEN_KINDS = ['calendar', 'cron', 'per_pc', 'per_target', 'on']

/** YAML syntax problems only, with their line; `null` when the text parses. */
function syntax(text: string): { problems: Problem[]; value: unknown } {
  const { doc, lc } = parse(text)
  const problems = doc.errors.map((e) => {
    const pos = lc.linePos(e.pos[0])
    return { message: e.message.split('\n')[0], line: pos.line, col: pos.col, source: 'yaml' as const }
  })
  return { problems, value: problems.length ? null : doc.toJS() }
}

/** Problems of a schedule document a browser can see: syntax, unknown keys, the required
 * id/job_id/when (exactly one kind of `when`). The server checks the rest. */
export function checkSchedule(text: string): Problem[] {
  if (text.trim() === '') return [{ message: 'the schedule is empty', source: 'yaml' }]
  const { problems, value } = syntax(text)
  if (problems.length) return problems
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ message: 'the document must be a mapping of keys to values', line: 1, col: 1, source: 'yaml' }]
  }
  const m = value as Record<string, unknown>
  const out: Problem[] = []
  for (const key of Object.keys(m)) {
    if (!SCHEDULE_KEYS.includes(key)) out.push(at(text, key, `unknown field \`${key}\`, expected one of ${SCHEDULE_KEYS.join(', ')}`))
  }
  for (const key of ['id', 'job_id']) {
    if (typeof m[key] !== 'string' || !ID_RE.test(m[key] as string)) out.push(at(text, key, m[key] === undefined ? `missing field \`${key}\`` : `${key}: letters, digits, "-", "_" or ".", not ending with "."`))
  }
  const when = m.when
  if (when === undefined) out.push({ message: 'missing field `when` (calendar, cron, per_pc, per_target or on)', field: 'when', source: 'yaml' })
  else if (when === null || typeof when !== 'object' || Array.isArray(when)) out.push(at(text, 'when', 'when must be a mapping with one of calendar, cron, per_pc, per_target, on'))
  else {
    const kinds = Object.keys(when)
    const unknown = kinds.filter((k) => !WHEN_KINDS.includes(k))
    for (const k of unknown) out.push(at(text, `when.${k}`, `unknown kind \`${k}\` in when, expected one of ${WHEN_KINDS.join(', ')}`))
    if (!unknown.length && kinds.length !== 1) out.push(at(text, 'when', 'set exactly one of calendar, cron, per_pc, per_target, on'))
  }
  const waves = (m.rollout as { waves?: unknown } | null | undefined)?.waves
  const fields = ['jitter', 'starting_deadline', 'when.per_pc.every', 'when.per_target.every', 'on_failure.retry.backoff']
  if (Array.isArray(waves)) waves.forEach((_, i) => fields.push(`rollout.waves[${i}].delay`))
  out.push(...durationProblems(text, m, fields))
  return out
}

export interface ServerError {
  status: number
  code: string
  message: string
  field?: string | null
}

/** Places a server error in the text: by its `field` path, else by a "line N column M" in
 * the message (YAML syntax errors), else at no particular line. */
export function serverProblem(text: string, err: ServerError): Problem {
  const field = err.field && err.field !== '(document)' ? err.field : undefined
  if (field) {
    const pos = locateField(text, field)
    if (pos) return { message: err.message, field, line: pos.line, col: pos.col, source: 'server' }
  }
  const m = /line (\d+)(?:,? col(?:umn)? (\d+))?/i.exec(err.message)
  if (m) return { message: err.message, field, line: Number(m[1]), col: m[2] ? Number(m[2]) : 1, source: 'server' }
  return { message: err.message, field, source: 'server' }
}

/** Reads the `id` of a manifest text, if it parses. */
export function manifestId(text: string): string | null {
  try {
    const v = parseDocument(text).toJS() as { id?: unknown } | null
    return v && typeof v.id === 'string' ? v.id : null
  } catch {
    return null
  }
}
