// Server-Sent Events over fetch: EventSource cannot send the Authorization header, so the
// stream is read with a ReadableStream and parsed here.

export interface SseMessage {
  event: string
  data: string
  id?: string
}

/** An incremental SSE parser: feed it text chunks as they arrive, get complete messages. */
export class SseParser {
  private buffer = ''
  private event = ''
  private data: string[] = []
  private id: string | undefined

  push(chunk: string): SseMessage[] {
    this.buffer += chunk
    const out: SseMessage[] = []
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/)
      if (nl < 0) break
      const line = this.buffer.slice(0, nl)
      const width = this.buffer.startsWith('\r\n', nl) ? 2 : 1
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (this.buffer[nl] === '\r' && width === 1 && nl === this.buffer.length - 1) break
      this.buffer = this.buffer.slice(nl + width)
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n'), ...(this.id !== undefined ? { id: this.id } : {}) })
        this.event = ''
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') this.event = value
      else if (field === 'data') this.data.push(value)
      else if (field === 'id') this.id = value
    }
    return out
  }
}

export type SseStatus = 'connecting' | 'open' | 'closed'

export interface SseOptions {
  url: string
  token: () => string | null
  onMessage: (m: SseMessage) => void
  onStatus?: (s: SseStatus) => void
  /** Called after a reconnect: whatever was missed meanwhile should be refetched. */
  onReconnect?: () => void
}

/** Keeps a stream open, reconnecting with backoff (1 s doubling to 30 s); returns a stop. */
export function connectSse(opts: SseOptions): () => void {
  let stopped = false
  let controller: AbortController | null = null
  let delay = 1000
  let connectedBefore = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const run = async () => {
    if (stopped) return
    opts.onStatus?.('connecting')
    controller = new AbortController()
    try {
      const token = opts.token()
      const resp = await fetch(opts.url, {
        headers: { Accept: 'text/event-stream', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        signal: controller.signal,
        cache: 'no-store',
      })
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`)
      opts.onStatus?.('open')
      if (connectedBefore) opts.onReconnect?.()
      connectedBefore = true
      delay = 1000
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader()
      const parser = new SseParser()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        for (const m of parser.push(value)) opts.onMessage(m)
      }
    } catch {
      // Dropped, refused or aborted: retry below unless stopped.
    }
    if (stopped) return
    opts.onStatus?.('closed')
    timer = setTimeout(run, delay)
    delay = Math.min(delay * 2, 30_000)
  }
  void run()
  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
    controller?.abort()
  }
}
