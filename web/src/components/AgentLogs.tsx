// The agent's own log lines, fetched from the machine over the broker on request
// (GET /api/agents/{pc}/logs; operators and admins, audited): since when, a text to look for,
// how many of the newest lines.

import { useMutation } from '@tanstack/react-query'
import { useState } from 'react'
import { api, qs } from '../api/client'
import { sinceParam } from '../lib/reach'
import { Card, ErrorBox } from './ui'

/** What the agent answers (`LogsReply`). */
export interface LogsReply {
  pc_id: string
  text: string
  truncated: boolean
  files: string[]
  error?: string | null
}

const SINCE: [string, number | null][] = [
  ['15 minutes', 15 * 60],
  ['1 hour', 3600],
  ['24 hours', 24 * 3600],
  ['7 days', 7 * 24 * 3600],
  ['everything kept', null],
]

export function AgentLogs({ pcId }: { pcId: string }) {
  const [since, setSince] = useState(1)
  const [grep, setGrep] = useState('')
  const [lines, setLines] = useState(200)
  const fetchLogs = useMutation({
    mutationFn: () =>
      api.get<LogsReply>(
        `/api/agents/${encodeURIComponent(pcId)}/logs${qs({ since: sinceParam(SINCE[since][1], new Date()), grep: grep || undefined, lines })}`,
      ),
  })
  const reply = fetchLogs.data
  return (
    <Card title="Agent log">
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault()
          fetchLogs.mutate()
        }}
      >
        <label>
          Since{' '}
          <select value={since} onChange={(e) => setSince(Number(e.target.value))} aria-label="Since">
            {SINCE.map(([label], i) => (
              <option key={label} value={i}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <input aria-label="Containing" placeholder="containing text" value={grep} onChange={(e) => setGrep(e.target.value)} maxLength={200} />
        <label>
          Lines <input aria-label="Lines" type="number" min={1} max={100000} value={lines} onChange={(e) => setLines(Math.max(1, Number(e.target.value) || 1))} />
        </label>
        <button type="submit" className="btn small" disabled={fetchLogs.isPending}>
          {fetchLogs.isPending ? 'Fetching…' : 'Fetch log'}
        </button>
      </form>
      <ErrorBox error={fetchLogs.error} />
      {reply?.error && <p className="alert warn">{reply.error}</p>}
      {reply && !reply.error && !reply.text && <p className="muted">No matching lines.</p>}
      {reply?.text && (
        <>
          {reply.truncated && <p className="muted">Older lines were left out (line count or the 1 MiB cap).</p>}
          <pre className="output" data-testid="agent-log" tabIndex={0} aria-label="Agent log">
            {reply.text}
          </pre>
        </>
      )}
    </Card>
  )
}
