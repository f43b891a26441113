// Past remote-terminal sessions (GET /api/terminal-sessions) and their transcripts
// (GET /api/terminal-sessions/{id}/transcript, NDJSON: one {t_ms, dir, text} per line).

export interface TerminalSession {
  session_id: string
  pc_id: string
  user: string
  started_at: string
  ended_at?: string | null
  duration_secs?: number | null
  end_reason?: string | null
  output_bytes: number
  input_bytes: number
  has_transcript: boolean
}

export interface TranscriptEntry {
  t_ms: number
  /** `o` output, `i` an input line. */
  dir: string
  text: string
}

/** The entries of an NDJSON transcript; unreadable lines are skipped. */
export function parseTranscript(ndjson: string): TranscriptEntry[] {
  const out: TranscriptEntry[] = []
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue
    try {
      const e = JSON.parse(line) as TranscriptEntry
      if (typeof e.text === 'string' && typeof e.dir === 'string') out.push(e)
    } catch {
      // a torn last line
    }
  }
  return out
}

// ESC [ … final byte, ESC ] … BEL/ST, and other two-byte escapes.
const ANSI = new RegExp(String.raw`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]`, 'g')

/** The output as plain text: escape sequences dropped, carriage returns folded, a backspace
 * erasing the character before it. */
export function plainText(entries: TranscriptEntry[]): string {
  const raw = entries
    .filter((e) => e.dir === 'o')
    .map((e) => e.text)
    .join('')
    .replace(ANSI, '')
    .replace(/\r\n/g, '\n')
    .replace(/\r/g, '')
  let out = ''
  for (const ch of raw) {
    if (ch === '\b') out = out.slice(0, -1)
    else if (ch === '\x07') continue
    else out += ch
  }
  return out
}
