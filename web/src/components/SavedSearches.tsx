// Saved inventory searches (GET/POST/DELETE /api/saved-searches): everyone opens their own
// and the shared ones with a click; operators save the search on screen by name, for
// themselves or everyone, and delete their own (admins any). Errors land at the name.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api } from '../api/client'
import type { SaveSearch, SavedSearch } from '../api/types'
import { useAuth } from '../auth'
import { Card, ErrorBox, errorText } from './ui'

export function SavedSearches({ current, onOpen }: { current: string; onOpen: (query: string) => void }) {
  const { can, me } = useAuth()
  const qc = useQueryClient()
  const list = useQuery({ queryKey: ['saved-searches'], queryFn: ({ signal }) => api.get<SavedSearch[]>('/api/saved-searches', signal), retry: false })
  const [name, setName] = useState('')
  const [shared, setShared] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [saved, setSaved] = useState<string | null>(null)
  const save = useMutation({
    mutationFn: (req: SaveSearch) => api.post<SavedSearch>('/api/saved-searches', req),
    onSuccess: (s) => {
      setSaved(s.name)
      setName('')
      setError(null)
      void qc.invalidateQueries({ queryKey: ['saved-searches'] })
    },
    onError: (err) => setError(errorText(err)),
  })
  const remove = useMutation({
    mutationFn: (id: string) => api.del(`/api/saved-searches/${encodeURIComponent(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['saved-searches'] }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    setSaved(null)
    if (!name.trim()) return setError('name the search')
    save.mutate({ name: name.trim(), query: current, shared })
  }
  const routeMissing = list.error instanceof ApiError && list.error.routeMissing
  if (routeMissing) return null
  const items = list.data ?? []
  return (
    <Card title="Saved searches">
      <ErrorBox error={list.error ?? remove.error} />
      <div className="saved-searches" role="list" aria-label="Saved searches">
        {list.isPending && <span className="muted">Loading…</span>}
        {!list.isPending && items.length === 0 && <span className="muted">None yet.{can('operator') ? ' Search below, then save it by name.' : ''}</span>}
        {items.map((s) => {
          const mine = s.owner === me?.username
          const active = s.query === current
          return (
            <span key={s.id} role="listitem" className={`chip ${active ? 'active' : ''}`} title={`${s.query}\n${mine ? 'yours' : `by ${s.owner}`}${s.shared ? ', shared with everyone' : ', only you see it'}`}>
              <button type="button" className="linkish" onClick={() => onOpen(s.query)}>
                {s.name}
              </button>
              {s.shared && <span className="muted small"> · shared</span>}
              {!mine && <span className="muted small"> · {s.owner}</span>}
              {(mine ? can('operator') : can('admin')) && (
                <button type="button" className="chip-x" aria-label={`Delete saved search ${s.name}`} disabled={remove.isPending} onClick={() => remove.mutate(s.id)}>
                  ✕
                </button>
              )}
            </span>
          )
        })}
      </div>
      {can('operator') && current && (
        <form className="row" onSubmit={submit} noValidate>
          <input aria-label="Name of the search" placeholder="Name this search" value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!error} maxLength={80} />
          <label className="check">
            <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} /> shared with everyone
          </label>
          <button type="submit" className="btn small" data-mutating disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save search'}
          </button>
          {error && (
            <span className="field-error" role="alert">
              {error}
            </span>
          )}
          {saved && (
            <span role="status" className="ok-text">
              Saved “{saved}”.
            </span>
          )}
        </form>
      )}
    </Card>
  )
}
