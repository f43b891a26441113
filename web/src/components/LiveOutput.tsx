// Live output of a running execution: reads GET /api/executions/{id}/tail (Server-Sent
// Events over fetch, see api/sse.ts) and appends whole lines as they come, `pc: ` before each
// when several machines run it; `pc` narrows it to one machine's run (the result page), and
// `onEnd` hears when that run is over. Lossy by design: the stored results have all of it.

import { useEffect, useRef, useState } from 'react'
import { getToken } from '../api/client'
import { connectSse } from '../api/sse'
import { LineAssembler, type LiveLine, type TailChunk } from '../lib/reach'
import { Card } from './ui'

/** Keeps at most this many lines on screen. */
const MAX_LINES = 5000

export function LiveOutput({ execId, several, pc, onEnd }: { execId: string; several: boolean; pc?: string; onEnd?: () => void }) {
  const [lines, setLines] = useState<LiveLine[]>([])
  const [state, setState] = useState<'connecting' | 'open' | 'ended'>('connecting')
  const pre = useRef<HTMLPreElement>(null)
  const ended = useRef(onEnd)
  useEffect(() => {
    ended.current = onEnd
  }, [onEnd])
  useEffect(() => {
    const assembler = new LineAssembler()
    let stop: () => void = () => {}
    stop = connectSse({
      url: `/api/executions/${encodeURIComponent(execId)}/tail${pc ? `?pc=${encodeURIComponent(pc)}` : ''}`,
      token: getToken,
      onStatus: (s) => setState((prev) => (prev === 'ended' ? prev : s === 'open' ? 'open' : 'connecting')),
      onMessage: (m) => {
        if (m.event === 'end') {
          setState('ended')
          stop()
          ended.current?.()
          return
        }
        if (m.event !== 'chunk') return
        const fresh = assembler.push(JSON.parse(m.data) as TailChunk)
        if (fresh.length) setLines((prev) => [...prev, ...fresh].slice(-MAX_LINES))
      },
    })
    return () => stop()
  }, [execId, pc])
  useEffect(() => {
    const el = pre.current
    if (el) el.scrollTop = el.scrollHeight
  }, [lines])
  return (
    <Card title="Live output" actions={<span className="muted">{state === 'ended' ? 'finished' : state === 'open' ? 'following' : 'connecting…'}</span>}>
      {lines.length === 0 ? (
        <p className="muted">{state === 'ended' ? 'No live output was seen; the results below have it all.' : 'Waiting for output… (lines printed before this page opened are in the results once finished)'}</p>
      ) : (
        <pre className="output" ref={pre} data-testid="live-output" tabIndex={0} aria-label="Live output">
          {lines.map((l, i) => (
            <span key={i} className={l.stream === 'stderr' ? 'bad-text' : undefined}>
              {several ? `${l.pc}: ` : ''}
              {l.text}
              {'\n'}
            </span>
          ))}
        </pre>
      )}
    </Card>
  )
}
