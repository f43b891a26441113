// Remote terminal on the machine page (admins only): xterm.js over the backend's WebSocket
// GET /api/agents/{pc}/terminal. Binary frames carry terminal bytes both ways; text frames are
// JSON controls (`resize` from here; `opened` and, last, `exit` from the server). A browser
// cannot send the Authorization header on a WebSocket, so the token goes as the subprotocol
// `bearer.<token>`. Opening is audited, so it waits for the button. Under `terminal: consent`
// the server first says `waiting` (the machine's user is asked), then `opened` or `refused`.

import { useEffect, useRef, useState } from 'react'
import { Terminal } from '@xterm/xterm'
import { FitAddon } from '@xterm/addon-fit'
import '@xterm/xterm/css/xterm.css'
import { getToken } from '../api/client'
import { terminalUrl } from '../lib/terminal'
import { Link } from 'react-router'
import { Card } from './ui'

type Status =
  | { state: 'idle' }
  | { state: 'connecting' }
  | { state: 'waiting'; message: string; timeoutSecs: number }
  | { state: 'open'; sessionId: string }
  | { state: 'refused'; reason: string }
  | { state: 'ended'; reason: string }

export function TerminalCard({ pcId }: { pcId: string }) {
  const [status, setStatus] = useState<Status>({ state: 'idle' })
  const [session, setSession] = useState(0)
  const box = useRef<HTMLDivElement>(null)

  useEffect(() => {
    if (session === 0 || !box.current) return
    const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 })
    const fit = new FitAddon()
    term.loadAddon(fit)
    term.open(box.current)
    fit.fit()
    const ws = new WebSocket(terminalUrl(window.location, pcId, term.rows, term.cols), ['kanade.terminal', `bearer.${getToken() ?? ''}`])
    ws.binaryType = 'arraybuffer'
    let ended = false
    const end = (reason: string) => {
      if (ended) return
      ended = true
      setStatus({ state: 'ended', reason })
      term.write(`\r\n\x1b[2m[session ended: ${reason}]\x1b[0m\r\n`)
    }
    ws.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) {
        term.write(new Uint8Array(ev.data))
        return
      }
      try {
        const control = JSON.parse(String(ev.data)) as { type: string; session_id?: string; reason?: string; message?: string; timeout_secs?: number }
        if (control.type === 'waiting') {
          setStatus({ state: 'waiting', message: control.message ?? 'waiting for the user to accept…', timeoutSecs: control.timeout_secs ?? 0 })
          term.write(`\x1b[2m[${control.message ?? 'waiting for the user to accept…'}]\x1b[0m\r\n`)
        }
        if (control.type === 'refused') {
          ended = true
          setStatus({ state: 'refused', reason: control.reason ?? 'refused' })
          term.write(`\x1b[31m[refused: ${control.reason ?? 'refused'}]\x1b[0m\r\n`)
        }
        if (control.type === 'opened') setStatus({ state: 'open', sessionId: control.session_id ?? '' })
        if (control.type === 'exit') end(control.reason ?? 'ended')
      } catch {
        // not a control frame
      }
    }
    ws.onclose = () => end('the connection closed (refused: only admins, not under the fleet freeze or terminal: deny, and the machine must be online)')
    const encoder = new TextEncoder()
    const input = term.onData((data) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data))
    })
    const resize = term.onResize(({ rows, cols }) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', rows, cols }))
    })
    const onWindow = () => fit.fit()
    window.addEventListener('resize', onWindow)
    term.focus()
    return () => {
      ended = true
      window.removeEventListener('resize', onWindow)
      input.dispose()
      resize.dispose()
      ws.close()
      term.dispose()
    }
  }, [session, pcId])

  const running = status.state === 'connecting' || status.state === 'waiting' || status.state === 'open'
  return (
    <Card
      title="Terminal"
      actions={
        <div className="row">
          <Link to={`/terminal-sessions?pc=${encodeURIComponent(pcId)}`} className="btn small ghost" data-testid="terminal-sessions-link">
            Past sessions
          </Link>
          {running ? (
          <button
            type="button"
            className="btn small"
            onClick={() => {
              setSession(0)
              setStatus({ state: 'ended', reason: 'closed' })
            }}
          >
            Close
          </button>
        ) : (
          <button
            type="button"
            className="btn small"
            onClick={() => {
              setStatus({ state: 'connecting' })
              setSession((n) => n + 1)
            }}
          >
            Open terminal
          </button>
          )}
        </div>
      }
    >
      <p className="muted" data-testid="terminal-status">
        {status.state === 'idle' && 'A shell on this machine as the agent runs (root). The session is audited and its transcript kept.'}
        {status.state === 'connecting' && 'Connecting…'}
        {status.state === 'waiting' && `Waiting for the user to accept… (${status.message.replace(/…$/, '')}, up to ${status.timeoutSecs} s)`}
        {status.state === 'refused' && `Refused: ${status.reason}`}
        {status.state === 'open' && `Session ${status.sessionId}`}
        {status.state === 'ended' && `Ended: ${status.reason}`}
      </p>
      {session > 0 && <div ref={box} className="terminal" data-testid="terminal" style={{ height: '28rem' }} />}
    </Card>
  )
}
