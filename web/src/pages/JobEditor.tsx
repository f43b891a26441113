// Creating and editing a job manifest as YAML. The text is checked as you type; saving posts
// it as application/yaml, and a 400/422 answer is pinned to the line of the field it names.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router'
import { stringify } from 'yaml'
import { ApiError, api, request } from '../api/client'
import type { JobDetail, JobStatus } from '../api/types'
import { useAuth } from '../auth'
import { ExecDialog } from '../components/ExecDialog'
import { JobRuns } from '../components/JobRuns'
import { YamlEditor } from '../components/YamlEditor'
import { Badge, Card, ErrorBox, errorText } from '../components/ui'
import { checkManifest, serverProblem, type Problem } from '../lib/yamlcheck'

export const NEW_JOB = `id: my-job
version: 1
description: what this job does
execute:
  shell: sh
  script: |
    echo "hello from $(hostname)"
  timeout: 60s
tags: []
`

export function JobEditorPage() {
  const { id } = useParams()
  const isNew = id === undefined
  const { can } = useAuth()
  const editable = can('operator')
  const navigate = useNavigate()
  const qc = useQueryClient()
  const job = useQuery({ queryKey: ['job', id], queryFn: ({ signal }) => api.get<JobDetail>(`/api/jobs/${encodeURIComponent(id!)}`, signal), enabled: !isNew })
  const status = useQuery({
    queryKey: ['job', id, 'status'],
    queryFn: ({ signal }) => api.get<JobStatus>(`/api/jobs/${encodeURIComponent(id!)}/status`, signal),
    enabled: !isNew,
    retry: false,
  })
  const [text, setText] = useState(isNew ? NEW_JOB : '')
  const [loadedFor, setLoadedFor] = useState<string | undefined>(undefined)
  const [serverProblems, setServerProblems] = useState<Problem[]>([])
  const [saved, setSaved] = useState<string | null>(null)
  const [running, setRunning] = useState(false)

  useEffect(() => {
    if (!isNew && job.data && loadedFor !== id) {
      setText(job.data.yaml ?? stringify(job.data.manifest))
      setLoadedFor(id)
    }
  }, [isNew, job.data, id, loadedFor])

  const save = useMutation({
    mutationFn: (yaml: string) => request<JobDetail>('/api/jobs', { method: 'POST', body: yaml, contentType: 'application/yaml' }),
    onSuccess: (d) => {
      setServerProblems([])
      setSaved(`Saved ${d.manifest.id} version ${d.manifest.version}.`)
      void qc.invalidateQueries({ queryKey: ['jobs'] })
      void qc.invalidateQueries({ queryKey: ['job', d.manifest.id] })
      if (d.manifest.id !== id) navigate(`/jobs/${encodeURIComponent(d.manifest.id)}`, { replace: true })
    },
    onError: (err) => {
      setSaved(null)
      if (err instanceof ApiError && (err.status === 400 || err.status === 422)) setServerProblems([serverProblem(text, err)])
      else setServerProblems([{ message: errorText(err), source: 'server' }])
    },
  })
  const remove = useMutation({
    mutationFn: () => api.del(`/api/jobs/${encodeURIComponent(id!)}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['jobs'] })
      navigate('/jobs')
    },
  })
  const revoke = useMutation({
    mutationFn: (on: boolean) => api.post<JobStatus>(`/api/jobs/${encodeURIComponent(id!)}/${on ? 'revoke' : 'unrevoke'}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['job', id, 'status'] }),
  })

  const localProblems = checkManifest(text)
  const onChange = (v: string) => {
    setText(v)
    setServerProblems([])
    setSaved(null)
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1>
          {isNew ? 'New job' : id} {status.data?.revoked && <Badge tone="bad">revoked</Badge>}{' '}
          {job.data?.manifest.require_approval === true && (
            <Badge tone="warn" title="Every run waits for a second operator's approval before anything is sent">
              requires approval
            </Badge>
          )}
        </h1>
        <div className="row">
          <Link to="/jobs" className="btn ghost">
            All jobs
          </Link>
          {!isNew && editable && (
            <button type="button" className="btn" data-mutating onClick={() => setRunning(true)}>
              Run…
            </button>
          )}
        </div>
      </div>
      <ErrorBox error={job.error} />
      <section className="card">
        {!isNew && job.isPending ? (
          <p className="muted">Loading…</p>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault()
              if (editable) save.mutate(text)
            }}
          >
            <YamlEditor value={text} onChange={onChange} serverProblems={serverProblems} readOnly={!editable} label={editable ? 'Manifest (YAML)' : 'Manifest (read only)'} />
            {editable && (
              <div className="row">
                <button type="submit" className="btn primary" data-mutating disabled={save.isPending || localProblems.length > 0}>
                  {save.isPending ? 'Saving…' : isNew ? 'Create job' : 'Save'}
                </button>
                {localProblems.length > 0 && <span className="muted">Fix the problems above to save.</span>}
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
      {!isNew && id && <JobRuns jobId={id} />}
      {!isNew && editable && (
        <Card title="Danger zone">
          <div className="row">
            {status.data && (
              <button type="button" className="btn" data-mutating onClick={() => revoke.mutate(!status.data.revoked)} disabled={revoke.isPending}>
                {status.data.revoked ? 'Allow it again (unrevoke)' : 'Revoke: agents refuse to run it'}
              </button>
            )}
            <button
              type="button"
              className="btn danger"
              data-mutating
              onClick={() => {
                if (confirm(`Delete job ${id}? Its history stays.`)) remove.mutate()
              }}
            >
              Delete job
            </button>
          </div>
          <ErrorBox error={remove.error ?? revoke.error} />
        </Card>
      )}
      {running && id && <ExecDialog jobId={id} open={running} onClose={() => setRunning(false)} />}
    </div>
  )
}
