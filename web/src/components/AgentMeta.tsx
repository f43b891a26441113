// Operator attributes of a machine (KV agent_meta: owner, location, notes...): shown on the
// agent page; operators add, change and remove them (the whole list is saved at once, and the
// backend names an entry it refuses).

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { api } from '../api/client'
import { useAuth } from '../auth'
import { metaKeyError, withEntry, type AgentMeta } from '../lib/meta'
import { Card, ErrorBox, KeyValues, errorText } from './ui'

export function AgentMetaCard({ pcId }: { pcId: string }) {
  const { can } = useAuth()
  const qc = useQueryClient()
  const path = `/api/agents/${encodeURIComponent(pcId)}/meta`
  const q = useQuery({ queryKey: ['agent', pcId, 'meta'], queryFn: ({ signal }) => api.get<AgentMeta>(path, signal), retry: false })
  const [key, setKey] = useState('')
  const [value, setValue] = useState('')
  const [error, setError] = useState('')
  const save = useMutation({
    mutationFn: (next: AgentMeta) => api.put<AgentMeta>(path, next),
    onSuccess: (meta) => {
      qc.setQueryData(['agent', pcId, 'meta'], meta)
      setKey('')
      setValue('')
      setError('')
    },
    onError: (err) => setError(errorText(err)),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const bad = metaKeyError(key.trim())
    if (bad) return setError(`name: ${bad}`)
    if (q.data) save.mutate(withEntry(q.data, key.trim(), value))
  }
  const entries = q.data?.entries ?? []
  return (
    <Card title="Attributes">
      <ErrorBox error={q.error} />
      {q.data && !entries.length && <p className="muted">No attributes (owner, location, notes…) are set.</p>}
      {entries.length > 0 && (
        <div data-testid="agent-meta">
          <KeyValues
            items={entries.map((e) => [
              e.key,
              <span key={e.key}>
                {e.value}{' '}
                {can('operator') && (
                  <button type="button" className="btn ghost" data-mutating aria-label={`Remove ${e.key}`} onClick={() => q.data && save.mutate(withEntry(q.data, e.key, ''))}>
                    ×
                  </button>
                )}
              </span>,
            ])}
          />
        </div>
      )}
      {can('operator') && q.data && (
        <form className="row" onSubmit={submit}>
          <input aria-label="Attribute name" placeholder="name, e.g. owner" value={key} onChange={(e) => setKey(e.target.value)} />
          <input aria-label="Attribute value" placeholder="value (empty removes it)" value={value} onChange={(e) => setValue(e.target.value)} />
          <button type="submit" className="btn" data-mutating disabled={save.isPending}>
            Set
          </button>
          {error && <span className="field-error">{error}</span>}
        </form>
      )}
    </Card>
  )
}
