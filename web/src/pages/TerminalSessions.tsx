// Past remote-terminal sessions (admins only): who opened a shell on which machine, when, for
// how long and why it ended; a session's transcript replayed read-only in xterm.js, or as
// plain text. `?pc=` narrows to one machine (the machine page links here), `?session=` opens
// a transcript.

import { useEffect, useRef, useState } from 'react'
import { useQuery } from '@tanstack/react-query'
import { Link } from 'react-router'
import { Terminal } from '@xterm/xterm'
import '@xterm/xterm/css/xterm.css'
import { ApiError, api, getToken, qs, toApiError } from '../api/client'
import { DataTable } from '../components/DataTable'
import { Debounced } from '../components/Debounced'
import { Card, ErrorBox, Spinner } from '../components/ui'
import { formatBytes, formatDateTime, formatDuration, formatRelative } from '../lib/format'
import { useUrlState } from '../lib/params'
import { parseTranscript, plainText, type TerminalSession, type TranscriptEntry } from '../lib/transcript'

const KEYS = ['pc', 'session', 'view'] as const

async function fetchTranscript(id: string, signal?: AbortSignal): Promise<TranscriptEntry[]> {
  const token = getToken()
  let resp: Response
  try {
    resp = await fetch(`/api/terminal-sessions/${encodeURIComponent(id)}/transcript`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal,
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'network', 'cannot reach the backend; is it running?')
  }
  if (!resp.ok) throw await toApiError(resp)
  return parseTranscript(await resp.text())
}

/** The output replayed into a read-only terminal. */
function Replay({ entries }: { entries: TranscriptEntry[] }) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!box.current) return
    const term = new Terminal({ disableStdin: true, cursorBlink: false, fontSize: 13, scrollback: 20000, convertEol: false })
    term.open(box.current)
    for (const e of entries) if (e.dir === 'o') term.write(e.text)
    return () => term.dispose()
  }, [entries])
  return <div ref={box} className="terminal" data-testid="transcript-replay" style={{ height: '28rem' }} />
}

function Transcript({ session, view, setView }: { session: TerminalSession; view: string; setView: (v: string) => void }) {
  const q = useQuery({
    queryKey: ['terminal-transcript', session.session_id],
    queryFn: ({ signal }) => fetchTranscript(session.session_id, signal),
    retry: false,
  })
  const inputs = (q.data ?? []).filter((e) => e.dir === 'i')
  return (
    <Card
      title={`Transcript of ${session.session_id}`}
      actions={
        <div className="row" role="group" aria-label="Transcript view">
          <button type="button" className={`btn small${view === 'text' ? ' ghost' : ''}`} onClick={() => setView('')} aria-pressed={view !== 'text'}>
            Replay
          </button>
          <button type="button" className={`btn small${view === 'text' ? '' : ' ghost'}`} onClick={() => setView('text')} aria-pressed={view === 'text'}>
            Plain text
          </button>
        </div>
      }
    >
      <p className="muted">
        {session.user} on <Link to={`/agents/${encodeURIComponent(session.pc_id)}`}>{session.pc_id}</Link>, {formatDateTime(session.started_at)}
        {session.duration_secs != null && `, ${formatDuration(session.duration_secs * 1000)}`}
        {session.end_reason && ` — ended: ${session.end_reason}`}. {inputs.length} input line{inputs.length === 1 ? '' : 's'}.
      </p>
      {q.isPending && <Spinner />}
      {q.error && <ErrorBox error={q.error} title="No transcript" />}
      {q.data && (view === 'text' ? <pre className="output" data-testid="transcript-text">{plainText(q.data)}</pre> : <Replay entries={q.data} />)}
    </Card>
  )
}

export function TerminalSessionsPage() {
  const [s, set] = useUrlState(KEYS)
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), 30_000)
    return () => window.clearInterval(t)
  }, [])
  const q = useQuery({
    queryKey: ['terminal-sessions', s.pc],
    queryFn: ({ signal }) => api.get<TerminalSession[]>(`/api/terminal-sessions${qs({ pc_id: s.pc, limit: 1000 })}`, signal),
  })
  const selected = q.data?.find((x) => x.session_id === s.session)
  return (
    <div className="page">
      <h1>Terminal sessions</h1>
      <p className="muted">Remote shells opened from the dashboard or `kanade shell`, newest first. Transcripts are kept for the retention period (`[retention] terminal_transcripts`).</p>
      <div className="filters" role="group" aria-label="Session filters">
        <label>
          Machine
          <Debounced value={s.pc} onChange={(v) => set({ pc: v, session: null })} placeholder="machine id" />
        </label>
      </div>
      <DataTable
        label="Terminal sessions"
        filename="terminal-sessions"
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(x) => x.session_id}
        rowClass={(x) => (x.session_id === s.session ? 'selected' : undefined)}
        empty="No terminal sessions recorded."
        columns={[
          { key: 'started_at', header: 'Started', value: (x) => x.started_at, render: (x) => <span title={formatDateTime(x.started_at)}>{formatRelative(x.started_at, now)}</span> },
          { key: 'pc_id', header: 'Machine', value: (x) => x.pc_id, render: (x) => <Link to={`/agents/${encodeURIComponent(x.pc_id)}`}>{x.pc_id}</Link> },
          { key: 'user', header: 'By', value: (x) => x.user },
          { key: 'duration', header: 'Lasted', value: (x) => x.duration_secs ?? -1, render: (x) => (x.ended_at ? formatDuration((x.duration_secs ?? 0) * 1000) : 'open'), align: 'right' },
          { key: 'end_reason', header: 'Ended because', value: (x) => x.end_reason ?? '' },
          { key: 'bytes', header: 'Output', value: (x) => x.output_bytes, render: (x) => formatBytes(x.output_bytes), align: 'right', wide: true },
          {
            key: 'transcript',
            header: 'Transcript',
            value: (x) => (x.has_transcript ? 'yes' : 'no'),
            noExport: true,
            render: (x) =>
              x.has_transcript ? (
                <button type="button" className="btn small" data-testid={`transcript-${x.session_id}`} onClick={() => set({ session: x.session_id })}>
                  View
                </button>
              ) : (
                <span className="muted">none</span>
              ),
          },
        ]}
      />
      {selected && <Transcript session={selected} view={s.view} setView={(v) => set({ view: v })} />}
      {s.session && q.data && !selected && <ErrorBox error={new Error(`session ${s.session} is not in this list`)} />}
    </div>
  )
}
