import { describe, expect, it } from 'vitest'
import { SseParser } from './sse'

describe('SseParser', () => {
  it('parses named events split across chunks', () => {
    const p = new SseParser()
    expect(p.push('event: result\ndata: {"a"')).toEqual([])
    expect(p.push(':1}\n\nevent: agent\ndata: x\n')).toEqual([{ event: 'result', data: '{"a":1}' }])
    expect(p.push('\n')).toEqual([{ event: 'agent', data: 'x' }])
  })
  it('ignores comments (keep-alives), joins data lines, handles CRLF', () => {
    const p = new SseParser()
    expect(p.push(':\n\n: ping\r\n\r\ndata: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb' }])
  })
  it('waits when a chunk ends between \\r and \\n', () => {
    const p = new SseParser()
    expect(p.push('event: lagged\r\ndata: 3\r')).toEqual([])
    expect(p.push('\n\r\n')).toEqual([{ event: 'lagged', data: '3' }])
  })
})
