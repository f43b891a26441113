// What can be done to the machines selected in the agent list: add them to a group (PUT per
// machine, a few at a time), run a job on them (the Run dialog with them picked) and ping
// them. Operators add and run; everyone may ping.

import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { api } from '../api/client'
import type { GroupSummary, JobSummary, PingResult } from '../api/types'
import { useAuth } from '../auth'
import { addToGroup } from '../api/groups'
import { eachLimited, groupNameProblem, summarize } from '../lib/fleet'
import { Dialog } from './Dialog'
import { ExecDialog } from './ExecDialog'
import { Badge } from './ui'

/** A group name box offering the groups that exist. */
export function GroupNameInput({ value, onChange, invalid, label = 'Group name' }: { value: string; onChange: (v: string) => void; invalid?: boolean; label?: string }) {
  const groups = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), retry: false })
  return (
    <>
      <input list="bulk-known-groups" aria-label={label} placeholder="web-servers" value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={invalid} autoComplete="off" />
      <datalist id="bulk-known-groups">
        {groups.data?.map((g) => (
          <option key={g.name} value={g.name} />
        ))}
      </datalist>
    </>
  )
}

function AddToGroup({ pcs, onClose }: { pcs: string[]; onClose: () => void }) {
  const qc = useQueryClient()
  const [group, setGroup] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<{ text: string; ok: boolean } | null>(null)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const bad = groupNameProblem(group)
    setProblem(bad)
    if (bad) return
    setBusy(true)
    const outcomes = await addToGroup(pcs, group.trim())
    setBusy(false)
    setResult({ text: summarize(outcomes, (pc) => pc, `added to ${group.trim()}`), ok: outcomes.every((o) => o.ok) })
    void qc.invalidateQueries({ queryKey: ['agents'] })
    void qc.invalidateQueries({ queryKey: ['groups'] })
  }
  return (
    <Dialog open title={`Add ${pcs.length} machine(s) to a group`} onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <label>
          Group (an existing one, or a new name)
          <GroupNameInput value={group} onChange={setGroup} invalid={!!problem} />
        </label>
        {problem && (
          <span className="field-error" role="alert">
            {problem}
          </span>
        )}
        <p className="muted small">The machines reconnect to pick up the group&apos;s commands.</p>
        {result && (
          <p role="status" className={result.ok ? 'ok-text' : 'bad-text'}>
            {result.text}.{' '}
            {result.ok && <Link to={`/agents?group=${encodeURIComponent(group.trim())}`}>See the group</Link>}
          </p>
        )}
        <div className="row">
          <button type="submit" className="btn primary" data-mutating disabled={busy}>
            {busy ? 'Adding…' : 'Add'}
          </button>
          <button type="button" className="btn" onClick={onClose}>
            Done
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function PickJob({ pcs, onClose }: { pcs: string[]; onClose: () => void }) {
  const jobs = useQuery({ queryKey: ['jobs'], queryFn: ({ signal }) => api.get<JobSummary[]>('/api/jobs', signal) })
  const [job, setJob] = useState('')
  const [chosen, setChosen] = useState<string | null>(null)
  if (chosen) return <ExecDialog jobId={chosen} open pcs={pcs} onClose={onClose} />
  return (
    <Dialog open title={`Run a job on ${pcs.length} machine(s)`} onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault()
          if (job) setChosen(job)
        }}
      >
        <label>
          Job
          <select aria-label="Job to run" value={job} onChange={(e) => setJob(e.target.value)}>
            <option value="">pick a job…</option>
            {jobs.data?.map((j) => (
              <option key={j.id} value={j.id}>
                {j.id}
                {j.description ? ` — ${j.description}` : ''}
              </option>
            ))}
          </select>
        </label>
        <div className="row">
          <button type="submit" className="btn primary" disabled={!job}>
            Next
          </button>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function Pings({ pcs, onClose }: { pcs: string[]; onClose: () => void }) {
  const q = useQuery({
    queryKey: ['bulk-ping', pcs],
    queryFn: () => eachLimited(pcs, 8, (pc) => api.post<PingResult>(`/api/agents/${encodeURIComponent(pc)}/ping`)),
    staleTime: 0,
    gcTime: 0,
    retry: false,
  })
  const answered = q.data?.filter((o) => o.value?.answered).length ?? 0
  return (
    <Dialog open title={`Ping ${pcs.length} machine(s)`} onClose={onClose}>
      <div className="stack">
        <p role="status" className="muted">
          {q.isPending ? 'Asking each machine to answer (up to 5 s)…' : `${answered} of ${pcs.length} answered.`}
        </p>
        <table aria-label="Ping results">
          <thead>
            <tr>
              <th>Machine</th>
              <th>Answer</th>
            </tr>
          </thead>
          <tbody>
            {pcs.map((pc, i) => {
              const o = q.data?.[i]
              return (
                <tr key={pc}>
                  <td>
                    <Link to={`/agents/${encodeURIComponent(pc)}`}>{pc}</Link>
                  </td>
                  <td>
                    {!o ? (
                      <span className="muted">asking…</span>
                    ) : !o.ok ? (
                      <span className="bad-text">{o.error}</span>
                    ) : o.value?.answered ? (
                      <Badge tone="ok">answered in {o.value.rtt_ms?.toFixed(0)} ms</Badge>
                    ) : (
                      <Badge tone="bad">no answer within 5 s</Badge>
                    )}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
        <div className="row">
          <button type="button" className="btn" onClick={() => void q.refetch()} disabled={q.isFetching}>
            Ping again
          </button>
          <button type="button" className="btn" onClick={onClose}>
            Done
          </button>
        </div>
      </div>
    </Dialog>
  )
}

export function BulkActions({ selected, onClear }: { selected: string[]; onClear: () => void }) {
  const { can } = useAuth()
  const [open, setOpen] = useState<'group' | 'run' | 'ping' | null>(null)
  if (selected.length === 0) return null
  const close = () => setOpen(null)
  return (
    <div className="bulk-bar" role="region" aria-label="Selected machines">
      <strong>{selected.length} selected</strong>
      {can('operator') && (
        <>
          <button type="button" className="btn small" onClick={() => setOpen('group')}>
            Add to group…
          </button>
          <button type="button" className="btn small" onClick={() => setOpen('run')}>
            Run a job…
          </button>
        </>
      )}
      <button type="button" className="btn small" onClick={() => setOpen('ping')}>
        Ping
      </button>
      <button type="button" className="btn small ghost" onClick={onClear}>
        Clear selection
      </button>
      {open === 'group' && <AddToGroup pcs={selected} onClose={close} />}
      {open === 'run' && <PickJob pcs={selected} onClose={close} />}
      {open === 'ping' && <Pings pcs={selected} onClose={close} />}
    </div>
  )
}
