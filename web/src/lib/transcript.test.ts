import { describe, expect, it } from 'vitest'
import { parseTranscript, plainText } from './transcript'

describe('transcripts', () => {
  it('reads NDJSON and skips a torn line', () => {
    const text = '{"t_ms":1,"dir":"o","text":"$ "}\n{"t_ms":9,"dir":"i","text":"ls\\r"}\n{"t_ms":10,"dir":"o","te'
    expect(parseTranscript(text)).toEqual([
      { t_ms: 1, dir: 'o', text: '$ ' },
      { t_ms: 9, dir: 'i', text: 'ls\r' },
    ])
  })

  it('shows output without escape sequences', () => {
    const entries = parseTranscript(
      ['{"t_ms":1,"dir":"o","text":"\\u001b[01;32mroot\\u001b[0m$ echo hi\\r\\nhi\\r\\n"}', '{"t_ms":2,"dir":"i","text":"echo hi\\r"}', '{"t_ms":3,"dir":"o","text":"\\u001b]0;title\\u0007ab\\bc"}'].join('\n'),
    )
    expect(plainText(entries)).toBe('root$ echo hi\nhi\nac')
  })
})
