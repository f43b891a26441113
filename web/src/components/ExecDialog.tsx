// Firing a job: pick machines (from the fleet), groups (free text) or the whole fleet, an
// optional jitter and start deadline, then POST /api/exec/{job}. Errors land at their field.
// While the fleet is frozen the dialog says what will happen and asks for a confirmation
// before sending (the run goes out at once; a rollout's waves wait for the thaw).

import { useMutation, useQuery } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useNavigate } from 'react-router'
import { ApiError, api } from '../api/client'
import type { ExecRequest, ExecResponse, FreezeStatus, GroupSummary } from '../api/types'
import { parseDuration } from '../lib/format'
import { frozenExecWarning, runStep } from '../lib/freeze'
import { Dialog } from './Dialog'
import { MachinePicker } from './MachinePicker'
import { errorText } from './ui'

type Mode = 'pcs' | 'groups' | 'all' | 'waves'

interface WaveRow {
  group: string
  delay: string
}

/** Which input a server error belongs to. */
export function execErrorSlot(field: string | null | undefined): 'target' | 'jitter' | 'deadline' | 'form' {
  if (!field) return 'form'
  if (field.startsWith('target') || field.startsWith('rollout')) return 'target'
  if (field.startsWith('jitter')) return 'jitter'
  if (field.startsWith('deadline')) return 'deadline'
  return 'form'
}

/** `pcs`: machines picked when the dialog opens (a bulk action of the agent list). */
export function ExecDialog({ jobId, open, onClose, pcs }: { jobId: string; open: boolean; onClose: () => void; pcs?: string[] }) {
  const navigate = useNavigate()
  const [mode, setMode] = useState<Mode>('pcs')
  const [picked, setPicked] = useState<Set<string>>(() => new Set(pcs))
  const [groups, setGroups] = useState('')
  const [waves, setWaves] = useState<WaveRow[]>([
    { group: '', delay: '0s' },
    { group: '', delay: '10m' },
  ])
  const [haltPct, setHaltPct] = useState('')
  const [jitter, setJitter] = useState('')
  const [deadline, setDeadline] = useState('')
  const [errors, setErrors] = useState<Partial<Record<'target' | 'jitter' | 'deadline' | 'form', string>>>({})

  const freeze = useQuery({ queryKey: ['freeze'], queryFn: ({ signal }) => api.get<FreezeStatus>('/api/freeze', signal), enabled: open, retry: false })
  const unreadable = freeze.error instanceof ApiError && freeze.error.code === 'freeze_unreadable'
  const frozenWarning = frozenExecWarning(freeze.data, unreadable, mode === 'waves')
  const [confirmed, setConfirmed] = useState(false)
  const knownGroups = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), enabled: open, retry: false })

  const fire = useMutation({
    mutationFn: (req: ExecRequest) => api.post<ExecResponse>(`/api/exec/${encodeURIComponent(jobId)}`, req),
    onSuccess: (r) => {
      onClose()
      navigate(`/executions/${encodeURIComponent(r.exec_id)}`)
    },
    onError: (err) => {
      const slot = err instanceof ApiError ? execErrorSlot(err.field) : 'form'
      setErrors({ [slot]: errorText(err) })
    },
  })

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const errs: typeof errors = {}
    const req: ExecRequest = { target: {} }
    if (mode === 'all') req.target.all = true
    if (mode === 'pcs') {
      if (picked.size === 0) errs.target = 'pick at least one machine'
      req.target.pcs = [...picked]
    }
    if (mode === 'groups') {
      const list = groups
        .split(/[\s,]+/)
        .map((g) => g.trim())
        .filter(Boolean)
      if (list.length === 0) errs.target = 'name at least one group'
      const bad = list.find((g) => !/^[A-Za-z0-9_-]+$/.test(g))
      if (bad) errs.target = `"${bad}" is not a group name (letters, digits, '-' and '_')`
      req.target.groups = list
    }
    if (mode === 'waves') {
      const rows = waves.filter((w) => w.group.trim() || w.delay.trim() !== '0s')
      if (rows.length === 0) errs.target = 'add at least one wave'
      for (const [i, w] of rows.entries()) {
        if (!/^[A-Za-z0-9_-]+$/.test(w.group.trim())) errs.target = `wave ${i + 1}: "${w.group}" is not a group name`
        else if (w.delay.trim() && parseDuration(w.delay) === null) errs.target = `wave ${i + 1}: write the delay as 0s, 10m, 1h…`
      }
      const pct = haltPct.trim() ? Number(haltPct) : undefined
      if (pct !== undefined && !(pct >= 0 && pct <= 100)) errs.target = 'the failure threshold is a percentage from 0 to 100'
      req.rollout = { waves: rows.map((w) => ({ group: w.group.trim(), delay: w.delay.trim() || '0s' })), ...(pct !== undefined ? { halt_on_failure_pct: pct } : {}) }
    }
    if (jitter.trim()) {
      const secs = parseDuration(jitter)
      if (secs === null) errs.jitter = 'write a duration such as 30s, 5m or 1h'
      else if (secs > 86400) errs.jitter = 'at most 24h'
      else req.jitter = jitter.trim()
    }
    if (deadline) {
      const d = new Date(deadline)
      if (!(d.getTime() > Date.now())) errs.deadline = 'must be in the future'
      else req.deadline_at = d.toISOString()
    }
    setErrors(errs)
    if (Object.keys(errs).length > 0) return
    if (runStep(frozenWarning, confirmed) === 'confirm') {
      setConfirmed(true)
      return
    }
    fire.mutate(req)
  }

  const err = (slot: keyof typeof errors) =>
    errors[slot] ? (
      <span className="field-error" role="alert">
        {errors[slot]}
      </span>
    ) : null

  return (
    <Dialog open={open} onClose={onClose} title={`Run ${jobId}`} wide>
      <form className="stack" onSubmit={submit}>
        <fieldset>
          <legend>Target</legend>
          <div className="row" role="radiogroup">
            {(
              [
                ['pcs', 'Machines'],
                ['groups', 'Groups'],
                ['all', 'Whole fleet'],
                ['waves', 'Waves'],
              ] as [Mode, string][]
            ).map(([m, label]) => (
              <label key={m} className="radio">
                <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {label}
              </label>
            ))}
          </div>
          {mode === 'pcs' && <MachinePicker picked={picked} onChange={setPicked} />}
          {mode === 'groups' && (
            <label>
              Groups (comma or space separated)
              <input list="known-groups" value={groups} onChange={(e) => setGroups(e.target.value)} placeholder="web, db" aria-invalid={!!errors.target} />
            </label>
          )}
          {mode === 'waves' && (
            <div className="stack">
              <p className="muted small">Each wave fires at its group after its delay (counted from now). Later waves halt when too many results so far failed.</p>
              {waves.map((w, i) => (
                <div className="row" key={i}>
                  <span className="muted">{i + 1}.</span>
                  <input
                    aria-label={`Wave ${i + 1} group`}
                    list="known-groups"
                    placeholder="group"
                    value={w.group}
                    onChange={(e) => setWaves(waves.map((x, j) => (j === i ? { ...x, group: e.target.value } : x)))}
                  />
                  <input
                    aria-label={`Wave ${i + 1} delay`}
                    className="short"
                    placeholder="delay, e.g. 10m"
                    value={w.delay}
                    onChange={(e) => setWaves(waves.map((x, j) => (j === i ? { ...x, delay: e.target.value } : x)))}
                  />
                  <button type="button" className="btn small ghost" aria-label={`Remove wave ${i + 1}`} onClick={() => setWaves(waves.filter((_, j) => j !== i))} disabled={waves.length <= 1}>
                    ✕
                  </button>
                </div>
              ))}
              <div className="row">
                <button type="button" className="btn small" onClick={() => setWaves([...waves, { group: '', delay: '' }])}>
                  Add a wave
                </button>
                <label className="inline">
                  Halt when more than
                  <input className="short" inputMode="decimal" value={haltPct} onChange={(e) => setHaltPct(e.target.value)} placeholder="e.g. 10" aria-label="Failure threshold percent" />
                  % failed
                </label>
              </div>
            </div>
          )}
          {mode === 'all' && <p className="alert warn">Every machine of the fleet runs this job, including machines that come online later and replay the command.</p>}
          <datalist id="known-groups">
            {knownGroups.data?.map((g) => (
              <option key={g.name} value={g.name} />
            ))}
          </datalist>
          {err('target')}
        </fieldset>
        <div className="grid two">
          <label>
            Jitter (optional)
            <input value={jitter} onChange={(e) => setJitter(e.target.value)} placeholder="e.g. 30s, 5m" aria-invalid={!!errors.jitter} />
            <span className="hint muted">Each machine waits a random time up to this before starting.</span>
            {err('jitter')}
          </label>
          <label>
            Start deadline (optional)
            <input type="datetime-local" value={deadline} onChange={(e) => setDeadline(e.target.value)} aria-invalid={!!errors.deadline} />
            <span className="hint muted">Machines that cannot start before then skip the run (exit 125).</span>
            {err('deadline')}
          </label>
        </div>
        {err('form')}
        {frozenWarning && (
          <p className="alert warn" role="alert" data-testid="frozen-warning">
            {confirmed ? 'Send anyway? ' : ''}
            {frozenWarning.charAt(0).toUpperCase() + frozenWarning.slice(1)}.
          </p>
        )}
        <div className="row end">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" data-mutating disabled={fire.isPending}>
            {fire.isPending ? 'Starting…' : runStep(frozenWarning, confirmed) === 'send' && frozenWarning ? 'Run anyway' : 'Run now'}
          </button>
        </div>
      </form>
    </Dialog>
  )
}
