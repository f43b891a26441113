// Reaching into a machine, the parts without React: live output chunks joined into lines
// (GET /api/executions/{id}/tail) and the look-back of the agent log request.

/** One chunk of `job.tail.<pc>.<exec_id>` as the backend relays it. */
export interface TailChunk {
  exec_id: string
  pc_id: string
  result_id: string
  seq: number
  stream: 'stdout' | 'stderr'
  text: string
  dropped_bytes: number
  done: boolean
}

export interface LiveLine {
  pc: string
  stream: 'stdout' | 'stderr'
  text: string
}

/** Splits chunks into whole lines, keeping each machine's and stream's partial line apart. */
export class LineAssembler {
  private partial = new Map<string, string>()
  private dropped = new Map<string, number>()

  push(chunk: TailChunk): LiveLine[] {
    const key = `${chunk.pc_id}\u0000${chunk.stream}`
    const text = (this.partial.get(key) ?? '') + chunk.text
    const parts = text.split('\n')
    const rest = parts.pop() ?? ''
    const out: LiveLine[] = parts.map((t) => ({ pc: chunk.pc_id, stream: chunk.stream, text: t }))
    if (chunk.done) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const k = `${chunk.pc_id}\u0000${stream}`
        const left = k === key ? rest : (this.partial.get(k) ?? '')
        if (left) out.push({ pc: chunk.pc_id, stream, text: left })
        this.partial.delete(k)
      }
    } else {
      this.partial.set(key, rest)
    }
    const seen = this.dropped.get(chunk.pc_id) ?? 0
    if (chunk.dropped_bytes > seen) {
      out.push({ pc: chunk.pc_id, stream: 'stderr', text: `[${chunk.dropped_bytes - seen} bytes of live output dropped; the result has all of it]` })
      this.dropped.set(chunk.pc_id, chunk.dropped_bytes)
    }
    return out
  }
}

/** The `since` parameter for a look-back of `seconds` from `now`. */
export function sinceParam(seconds: number | null, now: Date): string | undefined {
  return seconds === null ? undefined : new Date(now.getTime() - seconds * 1000).toISOString()
}
