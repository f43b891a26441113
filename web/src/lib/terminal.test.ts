import { describe, expect, it } from 'vitest'
import { terminalUrl } from './terminal'

describe('terminalUrl', () => {
  it('follows the page origin and escapes the machine id', () => {
    expect(terminalUrl({ protocol: 'https:', host: 'kanade.example:8443' }, 'web01.corp', 40, 100)).toBe(
      'wss://kanade.example:8443/api/agents/web01.corp/terminal?rows=40&cols=100',
    )
    expect(terminalUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, 'a b', 24, 80)).toBe('ws://127.0.0.1:8080/api/agents/a%20b/terminal?rows=24&cols=80')
  })
})
