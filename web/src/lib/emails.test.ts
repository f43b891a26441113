import { describe, expect, it } from 'vitest'
import { emailIndex, emailProblems, isPlausibleEmail, splitEmails } from './emails'

describe('isPlausibleEmail', () => {
  it('takes ordinary addresses', () => {
    expect(isPlausibleEmail('ops@example.com')).toBe(true)
    expect(isPlausibleEmail('first.last+tag@mail.example.co.jp')).toBe(true)
  })
  it('refuses what the server refuses', () => {
    for (const bad of ['', 'ops', 'ops@', '@example.com', 'ops@localhost', 'ops@.example.com', 'ops@example.com.', 'o ps@example.com', 'a@b@example.com', '<ops@example.com>', 'ops@exa,mple.com', 'opé@example.com'])
      expect(isPlausibleEmail(bad), bad).toBe(false)
    expect(isPlausibleEmail(`${'a'.repeat(250)}@b.cd`)).toBe(false)
  })
})

describe('lists of addresses', () => {
  it('splits pasted lists', () => {
    expect(splitEmails(' a@x.io, b@x.io;c@x.io\nd@x.io  ')).toEqual(['a@x.io', 'b@x.io', 'c@x.io', 'd@x.io'])
    expect(splitEmails('  ')).toEqual([])
  })
  it('names bad and repeated addresses by position', () => {
    const p = emailProblems(['a@x.io', 'nope', 'A@X.io'])
    expect([...p.keys()]).toEqual([1, 2])
    expect(p.get(2)).toMatch(/twice/)
    expect(emailProblems(['a@x.io']).size).toBe(0)
  })
  it('reads the position out of a server error field', () => {
    expect(emailIndex('emails[3]')).toBe(3)
    expect(emailIndex('emails')).toBeNull()
    expect(emailIndex(null)).toBeNull()
  })
})
