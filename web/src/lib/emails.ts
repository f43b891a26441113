// Group contact addresses: the same plausibility rule as the server (local@domain.tld, no
// spaces, brackets, commas or quotes), splitting pasted lists, and which address a server
// error (`emails[2]`) is about.

const BAD = /[\s<>,"@();:\\[\]]/

/** `local@domain.tld`, at most 254 characters, printable ASCII without the separators. */
export function isPlausibleEmail(text: string): boolean {
  const at = text.indexOf('@')
  if (at < 0 || text.length > 254) return false
  const local = text.slice(0, at)
  const domain = text.slice(at + 1)
  const clean = (part: string) => part !== '' && /^[\x21-\x7e]+$/.test(part) && !BAD.test(part)
  return clean(local) && clean(domain) && domain.includes('.') && !domain.startsWith('.') && !domain.endsWith('.')
}

/** Addresses typed or pasted as a list: split on commas, semicolons and white space. */
export function splitEmails(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean)
}

/** What is wrong with a list of addresses, by position; empty when nothing is. */
export function emailProblems(emails: string[]): Map<number, string> {
  const out = new Map<number, string>()
  emails.forEach((e, i) => {
    if (!isPlausibleEmail(e)) out.set(i, `\`${e}\` is not an e-mail address`)
    else if (emails.slice(0, i).some((x) => x.toLowerCase() === e.toLowerCase())) out.set(i, `\`${e}\` is listed twice`)
  })
  if (emails.length > 50) out.set(50, 'at most 50 addresses')
  return out
}

/** The position a server error's field names (`emails[2]` → 2), or null. */
export function emailIndex(field: string | null | undefined): number | null {
  const m = /^emails\[(\d+)\]$/.exec(field ?? '')
  return m ? Number(m[1]) : null
}
