// The remote terminal's WebSocket address (GET /api/agents/{pc}/terminal), on the origin the
// dashboard was loaded from.

/** The WebSocket URL of a machine's terminal of `rows` x `cols`. */
export function terminalUrl(loc: { protocol: string; host: string }, pcId: string, rows: number, cols: number): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${loc.host}/api/agents/${encodeURIComponent(pcId)}/terminal?rows=${rows}&cols=${cols}`
}
