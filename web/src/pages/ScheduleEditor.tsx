// Creating and editing a schedule with a form (calendar/cron helper, the next five fires) and
// as YAML, the two kept in sync (POST /api/schedules, application/yaml); server errors are
// pinned to the line of the field they name, like the job editor.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router'
import { stringify } from 'yaml'
import { ApiError, api, request } from '../api/client'
import type { ScheduleDetail } from '../api/types'
import { useAuth } from '../auth'
import { ScheduleForm } from '../components/ScheduleForm'
import { YamlEditor } from '../components/YamlEditor'
import { Badge, Card, ErrorBox, errorText } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'
import { checkSchedule, serverProblem, type Problem } from '../lib/yamlcheck'

export const NEW_SCHEDULE = `id: nightly-hello
job_id: hello
description: every weekday at 03:00, spread over 5 minutes
when:
  calendar:
    at: "03:00"
    days: [mon-fri]
target:
  all: true
jitter: 5m
`

export function ScheduleEditorPage() {
  const { id } = useParams()
  const isNew = id === undefined
  const { can } = useAuth()
  const editable = can('operator')
  const navigate = useNavigate()
  const qc = useQueryClient()
  const q = useQuery({ queryKey: ['schedule', id], queryFn: ({ signal }) => api.get<ScheduleDetail>(`/api/schedules/${encodeURIComponent(id!)}`, signal), enabled: !isNew })
  const [text, setText] = useState(isNew ? NEW_SCHEDULE : '')
  const [loadedFor, setLoadedFor] = useState<string | undefined>(undefined)
  const [serverProblems, setServerProblems] = useState<Problem[]>([])
  const [saved, setSaved] = useState<string | null>(null)

  useEffect(() => {
    if (!isNew && q.data && loadedFor !== id) {
      setText(q.data.yaml ?? stringify(q.data.schedule))
      setLoadedFor(id)
    }
  }, [isNew, q.data, id, loadedFor])

  const save = useMutation({
    mutationFn: (yaml: string) => request<ScheduleDetail>('/api/schedules', { method: 'POST', body: yaml, contentType: 'application/yaml' }),
    onSuccess: (d) => {
      setServerProblems([])
      setSaved(`Saved ${d.schedule.id}${d.next_fire ? `; next fire ${formatRelative(d.next_fire)}` : ''}.`)
      void qc.invalidateQueries({ queryKey: ['schedules'] })
      void qc.invalidateQueries({ queryKey: ['schedule', d.schedule.id] })
      if (d.schedule.id !== id) navigate(`/schedules/${encodeURIComponent(d.schedule.id)}`, { replace: true })
    },
    onError: (err) => {
      setSaved(null)
      if (err instanceof ApiError && (err.status === 400 || err.status === 422)) setServerProblems([serverProblem(text, err)])
      else setServerProblems([{ message: errorText(err), source: 'server' }])
    },
  })
  const remove = useMutation({
    mutationFn: () => api.del(`/api/schedules/${encodeURIComponent(id!)}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['schedules'] })
      navigate('/schedules')
    },
  })
  const local = checkSchedule(text)
  const edit = (v: string) => {
    setText(v)
    setServerProblems([])
    setSaved(null)
  }
  const d = q.data
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          {isNew ? 'New schedule' : id} {d && <Badge tone={d.schedule.enabled ? 'ok' : 'muted'}>{d.schedule.enabled ? 'enabled' : 'disabled'}</Badge>}
        </h1>
        <Link to="/schedules" className="btn ghost">
          All schedules
        </Link>
      </div>
      <ErrorBox error={q.error} />
      {d && <p className="muted">{d.next_fire ? `Next fire ${formatDateTime(d.next_fire)} (${formatRelative(d.next_fire)}).` : 'No clock fire ahead (per machine/target, disabled, or over).'}</p>}
      <section className="card">
        {!isNew && q.isPending ? (
          <p className="muted">Loading…</p>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault()
              if (editable) save.mutate(text)
            }}
          >
            <div className="grid two schedule-authoring">
              <ScheduleForm text={text} onChange={edit} readOnly={!editable} ready={local.length === 0} />
              <YamlEditor value={text} onChange={edit} serverProblems={serverProblems} readOnly={!editable} label={editable ? 'Schedule (YAML)' : 'Schedule (read only)'} check={checkSchedule} />
            </div>
            {editable && (
              <div className="row">
                <button type="submit" className="btn primary" data-mutating disabled={save.isPending || local.length > 0}>
                  {save.isPending ? 'Saving…' : isNew ? 'Create schedule' : 'Save'}
                </button>
                {saved && (
                  <span className="ok-text" role="status">
                    {saved}
                  </span>
                )}
              </div>
            )}
          </form>
        )}
      </section>
      {!isNew && editable && (
        <Card title="Danger zone">
          <div className="row">
            <button
              type="button"
              className="btn danger"
              data-mutating
              onClick={() => {
                if (confirm(`Delete schedule ${id}?`)) remove.mutate()
              }}
            >
              Delete schedule
            </button>
          </div>
          <ErrorBox error={remove.error} />
        </Card>
      )}
    </div>
  )
}
