// The one way the app talks to the backend: bearer token from sign-in, JSON in and out, and
// every failure turned into an ApiError carrying the server's {code, message, field}.

import type { ErrorBody } from './types'

const TOKEN_KEY = 'kanade.token'

export class ApiError extends Error {
  status: number
  code: string
  field?: string | null

  constructor(status: number, code: string, message: string, field?: string | null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = field
  }

  /** The route is not in this backend yet (the API answers unknown routes with this). */
  get routeMissing(): boolean {
    return this.status === 404 && this.code === 'not_found' && /^route not found/.test(this.message)
  }
}

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token)
    else localStorage.removeItem(TOKEN_KEY)
  } catch {
    // Private mode without storage: the session lasts until reload.
  }
}

type AuthListener = (reason: 'signed_out' | 'password_change_required') => void
const listeners = new Set<AuthListener>()

/** Called when any request finds the session gone (401) or a password change pending. */
export function onAuthProblem(fn: AuthListener): () => void {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

export async function toApiError(resp: Response): Promise<ApiError> {
  let body: Partial<ErrorBody> | null = null
  try {
    body = (await resp.json()) as Partial<ErrorBody>
  } catch {
    body = null
  }
  const e = body?.error
  return new ApiError(resp.status, e?.code ?? `http_${resp.status}`, e?.message ?? (resp.statusText || `HTTP ${resp.status}`), e?.field)
}

export interface RequestOptions {
  method?: string
  /** Sent as JSON unless it is a string or a file (sent as is, with `contentType`). */
  body?: unknown
  contentType?: string
  signal?: AbortSignal
  /** Do not broadcast a 401 (the sign-in form handles its own). */
  quiet?: boolean
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = getToken()
  if (token) headers.Authorization = `Bearer ${token}`
  let body: BodyInit | undefined
  if (typeof opts.body === 'string') {
    body = opts.body
    headers['Content-Type'] = opts.contentType ?? 'text/plain'
  } else if (opts.body instanceof Blob) {
    body = opts.body
    headers['Content-Type'] = opts.contentType ?? 'application/octet-stream'
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body)
    headers['Content-Type'] = 'application/json'
  }
  let resp: Response
  try {
    resp = await fetch(path, { method: opts.method ?? 'GET', headers, body, signal: opts.signal })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'network', 'cannot reach the backend; is it running?')
  }
  if (!resp.ok) {
    const err = await toApiError(resp)
    if (!opts.quiet) {
      if (err.status === 401 && token) listeners.forEach((l) => l('signed_out'))
      if (err.status === 403 && err.code === 'password_change_required') listeners.forEach((l) => l('password_change_required'))
    }
    throw err
  }
  if (resp.status === 204) return undefined as T
  const text = await resp.text()
  return (text ? JSON.parse(text) : undefined) as T
}

/** A query string from defined, non-empty values. */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const sp = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue
    sp.set(k, String(v))
  }
  const s = sp.toString()
  return s ? `?${s}` : ''
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>(path, { signal }),
  post: <T>(path: string, body?: unknown) => request<T>(path, { method: 'POST', body }),
  put: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PUT', body }),
  patch: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PATCH', body }),
  del: <T>(path: string) => request<T>(path, { method: 'DELETE' }),
}
