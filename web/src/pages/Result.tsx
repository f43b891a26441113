// One machine's run of one job: exit code and its meaning, times, stdout and stderr.

import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { Link, useParams } from 'react-router'
import { api } from '../api/client'
import type { ResultDetail } from '../api/types'
import { Card, ErrorBox, ExitBadge, KeyValues, exitMeaning } from '../components/ui'
import { between, formatDateTime, formatDuration } from '../lib/format'

function Output({ title, text, spilled }: { title: string; text: string; spilled?: string | null }) {
  const [copied, setCopied] = useState(false)
  return (
    <Card
      title={title}
      actions={
        text ? (
          <button
            type="button"
            className="btn small"
            onClick={async () => {
              await navigator.clipboard?.writeText(text)
              setCopied(true)
              setTimeout(() => setCopied(false), 1500)
            }}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>
        ) : undefined
      }
    >
      {spilled && <p className="alert info">The full output was larger than the inline cap and is kept in the object store as {spilled}.</p>}
      {text ? (
        <pre className="output" tabIndex={0} aria-label={title} data-testid={title.toLowerCase()}>
          {text}
        </pre>
      ) : (
        <p className="muted">(empty)</p>
      )}
    </Card>
  )
}

export function ResultPage() {
  const { id = '' } = useParams()
  const q = useQuery({ queryKey: ['results', 'one', id], queryFn: ({ signal }) => api.get<ResultDetail>(`/api/results/${encodeURIComponent(id)}`, signal) })
  const r = q.data
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
                ['Meaning', exitMeaning(r.exit_code, r.skipped, r.reaped)],
                ['Started', formatDateTime(r.started_at)],
                ['Finished', formatDateTime(r.finished_at)],
                ['Took', formatDuration(between(r.started_at, r.finished_at))],
              ]}
            />
          </Card>
          <Output title="stdout" text={r.stdout} spilled={r.stdout_object} />
          <Output title="stderr" text={r.stderr} spilled={r.stderr_object} />
        </>
      )}
    </div>
  )
}
