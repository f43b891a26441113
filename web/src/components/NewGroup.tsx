// Creating a group (operators): a group exists once a machine is in it, so this names it and
// adds machines, picked from the fleet with a filter or everything an agents search matches
// (the agent list's filters). Groups that follow inventory conditions by themselves are
// derived groups, defined further down the page.

import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { api, qs } from '../api/client'
import { addToGroup } from '../api/groups'
import type { AgentRow, Page } from '../api/types'
import { groupNameProblem, summarize } from '../lib/fleet'
import { GroupNameInput } from './BulkActions'
import { MachinePicker } from './MachinePicker'
import { Card, ErrorBox } from './ui'

type Mode = 'pick' | 'search'

interface Search {
  q: string
  online: string
  os: string
  version: string
  group: string
}

const NO_SEARCH: Search = { q: '', online: '', os: '', version: '', group: '' }

/** The agent list's URL for a search, to see its machines there. */
function agentsLink(s: Search): string {
  return `/agents${qs({ q: s.q, online: s.online, os: s.os, version: s.version, group: s.group })}`
}

export function NewGroup({ onClose }: { onClose: () => void }) {
  const qc = useQueryClient()
  const [name, setName] = useState('')
  const [mode, setMode] = useState<Mode>('pick')
  const [picked, setPicked] = useState<Set<string>>(new Set())
  const [search, setSearch] = useState<Search>(NO_SEARCH)
  const [problem, setProblem] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<{ text: string; ok: boolean; group: string } | null>(null)

  const searching = mode === 'search' && Object.values(search).some((v) => v.trim() !== '')
  const matches = useQuery({
    queryKey: ['agents', 'new-group', search],
    queryFn: ({ signal }) => api.get<Page<AgentRow>>(`/api/agents${qs({ ...search, limit: 1000, sort: 'pc_id' })}`, signal),
    enabled: searching,
    retry: false,
  })
  const members = mode === 'pick' ? [...picked].sort() : searching ? (matches.data?.items ?? []).map((a) => a.pc_id) : []
  const setS = (patch: Partial<Search>) => setSearch({ ...search, ...patch })

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const bad = groupNameProblem(name) ?? (members.length === 0 ? (mode === 'pick' ? 'pick at least one machine' : 'the search matches no machine') : null)
    setProblem(bad)
    if (bad) return
    setBusy(true)
    const group = name.trim()
    const outcomes = await addToGroup(members, group)
    setBusy(false)
    setResult({ text: summarize(outcomes, (pc) => pc, `added to ${group}`), ok: outcomes.every((o) => o.ok), group })
    void qc.invalidateQueries({ queryKey: ['groups'] })
    void qc.invalidateQueries({ queryKey: ['agents'] })
  }

  return (
    <Card
      title="New group"
      actions={
        <button type="button" className="btn small ghost" onClick={onClose} aria-label="Close new group">
          ✕
        </button>
      }
    >
      <form className="stack" onSubmit={submit} noValidate>
        <label>
          Name
          <GroupNameInput label="New group name" value={name} onChange={setName} invalid={!!problem && !!groupNameProblem(name)} />
        </label>
        <div className="row" role="radiogroup" aria-label="Members from">
          <label className="radio">
            <input type="radio" name="members-from" checked={mode === 'pick'} onChange={() => setMode('pick')} /> Pick machines
          </label>
          <label className="radio">
            <input type="radio" name="members-from" checked={mode === 'search'} onChange={() => setMode('search')} /> Every machine a search matches
          </label>
        </div>
        {mode === 'pick' ? (
          <MachinePicker picked={picked} onChange={setPicked} />
        ) : (
          <div className="stack">
            <div className="row">
              <input aria-label="Search machines" placeholder="Machine id, host name or address" value={search.q} onChange={(e) => setS({ q: e.target.value })} />
              <select aria-label="Search state" value={search.online} onChange={(e) => setS({ online: e.target.value })}>
                <option value="">online + offline</option>
                <option value="true">online</option>
                <option value="false">offline</option>
              </select>
              <input aria-label="Search OS" className="short" placeholder="OS (linux…)" value={search.os} onChange={(e) => setS({ os: e.target.value })} />
              <input aria-label="Search agent version" className="short" placeholder="Agent version" value={search.version} onChange={(e) => setS({ version: e.target.value })} />
              <input aria-label="Search group" className="short" placeholder="In group" value={search.group} onChange={(e) => setS({ group: e.target.value })} />
            </div>
            <ErrorBox error={matches.error} />
            <p className="muted small" role="status">
              {!searching
                ? 'The same filters as the agent list; the machines it matches now join the group (later matches do not).'
                : matches.isPending
                  ? 'Searching…'
                  : `${members.length} machine(s) match: ${members.slice(0, 8).join(', ')}${members.length > 8 ? ', …' : ''}`}{' '}
              {searching && <Link to={agentsLink(search)}>see them in the agent list</Link>}
            </p>
          </div>
        )}
        {problem && (
          <span className="field-error" role="alert">
            {problem}
          </span>
        )}
        {result && (
          <p role="status" className={result.ok ? 'ok-text' : 'bad-text'}>
            {result.text}. <Link to={`/agents?group=${encodeURIComponent(result.group)}`}>See the group</Link>
          </p>
        )}
        <div className="row">
          <button type="submit" className="btn primary" data-mutating disabled={busy}>
            {busy ? 'Creating…' : `Create with ${members.length} machine(s)`}
          </button>
          <span className="muted small">
            To keep a group current as inventory changes, define a <a href="#derived-groups">derived group</a> instead.
          </span>
        </div>
      </form>
    </Card>
  )
}
