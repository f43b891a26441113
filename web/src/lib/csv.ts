// CSV export (RFC 4180): quoting, and a guard against spreadsheet formula injection.

export type CsvValue = string | number | boolean | null | undefined | Date

/** One field: quoted when it holds a quote, comma, line break or edge spaces; text that a
 * spreadsheet would run as a formula gets a leading apostrophe. */
export function csvEscape(value: CsvValue): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : ''
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  let s = value
  if (/^[=+\-@\t\r]/.test(s) && !/^[+-]?\d+(\.\d+)?$/.test(s)) s = `'${s}`
  if (/[",\r\n]/.test(s) || s !== s.trim()) return `"${s.replace(/"/g, '""')}"`
  return s
}

export interface CsvColumn<T> {
  header: string
  value: (row: T) => CsvValue
}

/** The rows as CSV text with a header line, CRLF line ends. */
export function toCsv<T>(columns: CsvColumn<T>[], rows: readonly T[]): string {
  const lines = [columns.map((c) => csvEscape(c.header)).join(',')]
  for (const row of rows) lines.push(columns.map((c) => csvEscape(c.value(row))).join(','))
  return lines.join('\r\n') + '\r\n'
}

/** Offers `text` as a file download (with a BOM so spreadsheets read it as UTF-8). */
export function downloadCsv(filename: string, text: string): void {
  const blob = new Blob(['\ufeff', text], { type: 'text/csv;charset=utf-8' })
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
