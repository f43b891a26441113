import { describe, expect, it } from 'vitest'
import { csvEscape, toCsv } from './csv'

describe('csvEscape', () => {
  it('leaves plain values alone', () => {
    expect(csvEscape('pc-01')).toBe('pc-01')
    expect(csvEscape(42)).toBe('42')
    expect(csvEscape(-1)).toBe('-1')
    expect(csvEscape(true)).toBe('true')
    expect(csvEscape(null)).toBe('')
    expect(csvEscape(undefined)).toBe('')
  })
  it('quotes commas, quotes, line breaks and edge spaces', () => {
    expect(csvEscape('a,b')).toBe('"a,b"')
    expect(csvEscape('say "hi"')).toBe('"say ""hi"""')
    expect(csvEscape('line1\nline2')).toBe('"line1\nline2"')
    expect(csvEscape('x\r\ny')).toBe('"x\r\ny"')
    expect(csvEscape(' padded ')).toBe('" padded "')
  })
  it('defuses spreadsheet formulas but not signed numbers', () => {
    expect(csvEscape('=SUM(A1:A9)')).toBe("'=SUM(A1:A9)")
    expect(csvEscape('@cmd')).toBe("'@cmd")
    expect(csvEscape('+1 555')).toBe("'+1 555")
    expect(csvEscape('-5')).toBe('-5')
    expect(csvEscape('=a,b')).toBe(`"'=a,b"`)
  })
})

describe('toCsv', () => {
  it('writes a header and one CRLF line per row', () => {
    const rows = [
      { id: 'a', n: 1, note: 'x, y' },
      { id: 'b', n: null, note: '"q"' },
    ]
    const text = toCsv(
      [
        { header: 'Id', value: (r) => r.id },
        { header: 'Count', value: (r) => r.n },
        { header: 'Note', value: (r) => r.note },
      ],
      rows,
    )
    expect(text).toBe('Id,Count,Note\r\na,1,"x, y"\r\nb,,"""q"""\r\n')
  })
})
