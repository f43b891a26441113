// The schedule form beside the YAML: id, job, when (a calendar with weekday toggles and
// presets, a cron line with presets, per machine/target with an interval, or OS events),
// target, jitter and zone. It reads from and writes into the YAML text (lib/scheduleform),
// and shows the draft's next five fires as computed by the server.

import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useEffect, useId, useState, type InputHTMLAttributes } from 'react'
import { request } from '../api/client'
import { parseDuration } from '../lib/duration'
import { formatDateTime, formatRelative } from '../lib/format'
import { CRON_PRESETS, DAY_PRESETS, WEEKDAYS, readForm, splitList, toggleWeekday, weekdayOn, writeForm, type ScheduleForm as Form, type WhenKind } from '../lib/scheduleform'
import { errorText } from './ui'
import './yaml-editor.css'

/** A text input that keeps what is being typed (`a, ` of a list) while it has focus, and
 * shows the YAML's value otherwise. */
function Draft({ value, onValue, ...rest }: { value: string; onValue: (v: string) => void } & Omit<InputHTMLAttributes<HTMLInputElement>, 'value' | 'onChange'>) {
  const [draft, setDraft] = useState<string | null>(null)
  return (
    <input
      {...rest}
      value={draft ?? value}
      onFocus={() => setDraft(value)}
      onBlur={() => setDraft(null)}
      onChange={(e) => {
        setDraft(e.target.value)
        onValue(e.target.value)
      }}
      autoComplete="off"
      spellCheck={false}
    />
  )
}

const KINDS: { kind: WhenKind; label: string }[] = [
  { kind: 'calendar', label: 'Calendar' },
  { kind: 'cron', label: 'Cron' },
  { kind: 'per_pc', label: 'Per machine' },
  { kind: 'per_target', label: 'Per target' },
  { kind: 'on', label: 'OS event' },
]

interface Preview {
  when: string
  enabled: boolean
  next_fires: string[]
}

/** The next fires of the text, asked after typing pauses (only while the text checks out). */
function NextFires({ text, ready }: { text: string; ready: boolean }) {
  const [settled, setSettled] = useState(text)
  useEffect(() => {
    const t = setTimeout(() => setSettled(text), 400)
    return () => clearTimeout(t)
  }, [text])
  const q = useQuery({
    queryKey: ['schedule-preview', settled],
    queryFn: ({ signal }) => request<Preview>('/api/schedules:preview?count=5', { method: 'POST', body: settled, contentType: 'application/yaml', signal }),
    enabled: ready && settled.trim() !== '',
    retry: false,
    staleTime: 30_000,
    placeholderData: keepPreviousData,
  })
  // Settled: the list shown is the one of the text as it is now.
  const current = settled === text && !q.isFetching
  return (
    <div className="next-fires" aria-live="polite" data-settled={current}>
      <span className="field-label">Next five fires</span>
      {!ready ? (
        <p className="muted small">Fix the problems below to see when it fires.</p>
      ) : q.error ? (
        <p className="field-error">{errorText(q.error)}</p>
      ) : !q.data ? (
        <p className="muted small">Working it out…</p>
      ) : q.data.next_fires.length === 0 ? (
        <p className="muted small">No clock fires: {q.data.when.startsWith('per_') ? 'it runs as machines come due (per machine/target)' : q.data.when.startsWith('on') ? 'it runs on the machines’ events' : 'it will not fire again (see active / constraints)'}.</p>
      ) : (
        <>
          <ol className="fires">
            {q.data.next_fires.map((at) => (
              <li key={at}>
                <time dateTime={at}>{formatDateTime(at)}</time> <span className="muted small">({formatRelative(at)})</span>
              </li>
            ))}
          </ol>
          {!q.data.enabled && <p className="muted small">Disabled: these are the fires once it is enabled.</p>}
        </>
      )}
    </div>
  )
}

export function ScheduleForm({ text, onChange, readOnly, ready }: { text: string; onChange: (text: string) => void; readOnly?: boolean; ready: boolean }) {
  const id = useId()
  const form = readForm(text)
  if (!form) return <p className="muted">The YAML does not parse: fix it below to use the form.</p>
  const set = (patch: Partial<Form>) => onChange(writeForm(text, { ...form, ...patch }))
  const badDuration = (v: string) => v.trim() !== '' && !parseDuration(v).ok
  const everyBad = badDuration(form.every)
  const jitterBad = badDuration(form.jitter)
  return (
    <div className="schedule-form">
      <fieldset disabled={readOnly} className="stack">
        <legend>Schedule</legend>
        <div className="grid three">
          <label>
            Id
            <Draft value={form.id} onValue={(v) => set({ id: v.trim() })} placeholder="nightly-cleanup" />
          </label>
          <label>
            Job
            <Draft value={form.job_id} onValue={(v) => set({ job_id: v.trim() })} placeholder="the job id" />
          </label>
          <label className="check">
            <input type="checkbox" checked={form.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> enabled
          </label>
        </div>
        <label>
          Description
          <Draft value={form.description} onValue={(v) => set({ description: v })} placeholder="what it is for" />
        </label>
      </fieldset>
      <fieldset disabled={readOnly} className="stack">
        <legend>When</legend>
        <div className="segmented" role="radiogroup" aria-label="When kind">
          {KINDS.map((k) => (
            <button key={k.kind} type="button" role="radio" aria-checked={form.kind === k.kind} className={`btn small ${form.kind === k.kind ? 'active' : ''}`} onClick={() => set({ kind: k.kind })}>
              {k.label}
            </button>
          ))}
        </div>
        {form.kind === 'calendar' && (
          <div className="stack tight">
            <label>
              At
              <Draft className="short" value={form.at} onValue={(v) => set({ at: v.trim() })} placeholder="03:00" aria-describedby={`${id}-at`} />
              <span className="hint muted" id={`${id}-at`}>
                HH:MM every matching day, or YYYY-MM-DD HH:MM once
              </span>
            </label>
            <span className="field-label">Days</span>
            <div className="chips" role="group" aria-label="Weekdays">
              {WEEKDAYS.map((d) => (
                <button key={d} type="button" className={`chip ${weekdayOn(form.days, d) ? 'active' : ''}`} aria-pressed={weekdayOn(form.days, d)} onClick={() => set({ days: toggleWeekday(form.days, d) })}>
                  {d}
                </button>
              ))}
            </div>
            <div className="chips" aria-label="Day presets">
              {DAY_PRESETS.map((p) => (
                <button key={p.label} type="button" className="chip small" onClick={() => set({ days: p.days })}>
                  {p.label}
                </button>
              ))}
            </div>
            <label>
              Days as written
              <Draft value={form.days.join(', ')} onValue={(v) => set({ days: splitList(v) })} placeholder="every day" aria-describedby={`${id}-days`} />
              <span className="hint muted" id={`${id}-days`}>
                mon, tue-fri, weekdays, weekends, tue#2 (second Tuesday), friL (last Friday), 1–31, last
              </span>
            </label>
          </div>
        )}
        {form.kind === 'cron' && (
          <div className="stack tight">
            <label>
              Cron expression
              <Draft value={form.cron} onValue={(v) => set({ cron: v.trim() })} placeholder="0 3 * * *" aria-describedby={`${id}-cron`} />
              <span className="hint muted" id={`${id}-cron`}>
                minute hour day-of-month month day-of-week (a sixth field first means seconds)
              </span>
            </label>
            <div className="chips" aria-label="Cron presets">
              {CRON_PRESETS.map((p) => (
                <button key={p.cron} type="button" className={`chip small ${form.cron === p.cron ? 'active' : ''}`} onClick={() => set({ cron: p.cron })}>
                  {p.label}
                </button>
              ))}
            </div>
          </div>
        )}
        {(form.kind === 'per_pc' || form.kind === 'per_target') && (
          <label>
            Again every (empty: once)
            <Draft className="short" value={form.every} onValue={(v) => set({ every: v.trim() })} placeholder="once" aria-invalid={everyBad} />
            {everyBad && <span className="field-error">{(parseDuration(form.every) as { error: string }).error}</span>}
          </label>
        )}
        {form.kind === 'on' && (
          <div className="chips" role="group" aria-label="Events">
            {['startup', 'logon'].map((ev) => {
              const on = form.events.includes(ev)
              return (
                <button key={ev} type="button" className={`chip ${on ? 'active' : ''}`} aria-pressed={on} onClick={() => set({ events: on ? form.events.filter((x) => x !== ev) : [...form.events, ev] })}>
                  {ev}
                </button>
              )
            })}
          </div>
        )}
        <NextFires text={text} ready={ready} />
      </fieldset>
      <fieldset disabled={readOnly} className="stack">
        <legend>Where and how</legend>
        {form.hasRollout ? (
          <p className="muted small">The target is the rollout’s waves (edit them in the YAML).</p>
        ) : (
          <div className="grid three">
            <label className="check">
              <input type="checkbox" checked={form.targetAll} onChange={(e) => set({ targetAll: e.target.checked })} /> every machine
            </label>
            {!form.targetAll && (
              <>
                <label>
                  Groups
                  <Draft value={form.groups.join(', ')} onValue={(v) => set({ groups: splitList(v) })} placeholder="lab, web" />
                </label>
                <label>
                  Machines
                  <Draft value={form.pcs.join(', ')} onValue={(v) => set({ pcs: splitList(v) })} placeholder="pc-01, pc-02" />
                </label>
              </>
            )}
          </div>
        )}
        <div className="grid three">
          <label>
            Jitter (spread the start over)
            <Draft className="short" value={form.jitter} onValue={(v) => set({ jitter: v.trim() })} placeholder="none" aria-invalid={jitterBad} />
            {jitterBad && <span className="field-error">{(parseDuration(form.jitter) as { error: string }).error}</span>}
          </label>
          <label>
            Time zone
            <Draft className="short" value={form.tz} onValue={(v) => set({ tz: v.trim() })} placeholder="the backend's" />
          </label>
        </div>
      </fieldset>
    </div>
  )
}
