// One machine's run of one job: exit code and its meaning, times, stdout and stderr. Output
// spilled beyond the inline cap can be shown whole or downloaded (operators:
// GET /api/results/{id}/output). While the run is in flight its output is followed live
// (the execution's tail narrowed to this machine) and the page switches to the final result
// when it is recorded.

import { useQuery } from '@tanstack/react-query'
import { useState, type ReactNode } from 'react'
import { Link, useParams } from 'react-router'
import { api, getToken, qs, toApiError } from '../api/client'
import type { ResultDetail } from '../api/types'
import { useAuth } from '../auth'
import { LiveOutput } from '../components/LiveOutput'
import { Card, ErrorBox, ExitBadge, KeyValues, exitMeaning } from '../components/ui'
import { between, formatDateTime, formatDuration } from '../lib/format'

/** The whole output of one stream of a result, as a Blob. */
async function fetchOutput(resultId: string, stream: string): Promise<Blob> {
  const token = getToken()
  const resp = await fetch(`/api/results/${encodeURIComponent(resultId)}/output?stream=${stream}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  })
  if (!resp.ok) throw await toApiError(resp)
  return resp.blob()
}

function Output({ title, text, spilled, resultId }: { title: string; text: string; spilled?: string | null; resultId: string }) {
  const [copied, setCopied] = useState(false)
  const [whole, setWhole] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const { can } = useAuth()
  const shown = whole ?? text
  const run = async (what: 'show' | 'download') => {
    setBusy(true)
    setError(null)
    try {
      const blob = await fetchOutput(resultId, title)
      if (what === 'show') {
        setWhole(await blob.text())
      } else {
        const url = URL.createObjectURL(blob)
        const a = document.createElement('a')
        a.href = url
        a.download = `${resultId}.${title}.txt`
        a.click()
        setTimeout(() => URL.revokeObjectURL(url), 10_000)
      }
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Card
      title={title}
      actions={
        text ? (
          <button
            type="button"
            className="btn small"
            onClick={async () => {
              await navigator.clipboard?.writeText(shown)
              setCopied(true)
              setTimeout(() => setCopied(false), 1500)
            }}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>
        ) : undefined
      }
    >
      {spilled && whole === null && (
        <div className="alert info">
          <p>Only the first 256 KiB are shown: the full output is kept in the object store as {spilled}.</p>
          {can('operator') && (
            <div className="row">
              <button type="button" className="btn small" disabled={busy} onClick={() => void run('show')}>
                Show all
              </button>
              <button type="button" className="btn small" disabled={busy} onClick={() => void run('download')}>
                Download
              </button>
            </div>
          )}
        </div>
      )}
      {error ? <ErrorBox error={error} /> : null}
      {shown ? (
        <pre className="output" tabIndex={0} aria-label={title} data-testid={title.toLowerCase()}>
          {shown}
        </pre>
      ) : (
        <p className="muted">(empty)</p>
      )}
    </Card>
  )
}

export function ResultPage() {
  const { id = '' } = useParams()
  const { can } = useAuth()
  const q = useQuery({
    queryKey: ['results', 'one', id],
    queryFn: ({ signal }) => api.get<ResultDetail>(`/api/results/${encodeURIComponent(id)}`, signal),
    // In flight: look again until the final result is recorded.
    refetchInterval: (query) => (query.state.data && query.state.data.finished_at === null && !query.state.data.reaped ? 3000 : false),
  })
  const r = q.data
  const inFlight = r !== undefined && r.finished_at === null && !r.reaped
  return (
    <div className="page">
      <h1>
        {r ? (
          <>
            {r.job_id} on {r.pc_id} <ExitBadge code={r.exit_code} skipped={r.skipped} reaped={r.reaped} />
          </>
        ) : (
          'Result'
        )}
      </h1>
      <ErrorBox error={q.error} />
      {r && (
        <>
          <Card title="Run">
            <KeyValues
              items={[
                ['Machine', <Link key="machine" to={`/agents/${encodeURIComponent(r.pc_id)}`}>{r.pc_id}</Link>],
                ['Job', <Link key="job" to={`/jobs/${encodeURIComponent(r.job_id)}`}>{`${r.job_id} (version ${r.version})`}</Link>],
                ['Execution', <Link key="execution" to={`/executions/${encodeURIComponent(r.exec_id)}`}>{r.exec_id}</Link>],
                ['Exit code', r.exit_code ?? '—'],
                ['Meaning', r.outcome_note || exitMeaning(r.exit_code, r.skipped, r.reaped)],
                ['Started', formatDateTime(r.started_at)],
                ['Finished', formatDateTime(r.finished_at)],
                ['Took', formatDuration(between(r.started_at, r.finished_at))],
                ...(r.collect_object
                  ? [
                      [
                        'Bundle',
                        <Link key="bundle" data-testid="result-bundle" to={`/collections${qs({ pc: r.pc_id, job: r.job_id })}`}>
                          {r.collect_object}
                        </Link>,
                      ] as [string, ReactNode],
                    ]
                  : []),
                ...(r.parent_result_id
                  ? [['Follows', <Link key="parent" to={`/results/${encodeURIComponent(r.parent_result_id)}`}>{r.parent_result_id}</Link>] as [string, ReactNode]]
                  : []),
              ]}
            />
          </Card>
          {inFlight ? (
            can('operator') ? (
              <LiveOutput execId={r.exec_id} pc={r.pc_id} several={false} onEnd={() => void q.refetch()} />
            ) : (
              <p className="muted" data-testid="result-running">
                Still running; the output shows here once it finished.
              </p>
            )
          ) : (
            <>
              <Output title="stdout" text={r.stdout} spilled={r.stdout_object} resultId={r.result_id} />
              <Output title="stderr" text={r.stderr} spilled={r.stderr_object} resultId={r.result_id} />
            </>
          )}
        </>
      )}
    </div>
  )
}
