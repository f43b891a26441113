import { describe, expect, it } from 'vitest'
import { tokenize } from './yamlhighlight'

const kinds = (line: string) =>
  tokenize(line)[0]
    .filter((t) => t.text.trim() !== '')
    .map((t) => `${t.kind}:${t.text.trim()}`)

describe('tokenize (the editor colours)', () => {
  it('gives every line back unchanged', () => {
    const text = "id: x # the id\nexecute:\n  script: |\n    echo 'a: b' # not a comment\n  timeout: 30s\ntags: [a, \"b\"]\n- {at: '03:00', days: [mon]}\n"
    expect(
      tokenize(text)
        .map((l) => l.map((t) => t.text).join(''))
        .join('\n'),
    ).toBe(text)
  })

  it('tells keys, strings, numbers, booleans and comments apart', () => {
    expect(kinds('id: disk # why')).toEqual(['key:id', 'punct::', 'plain:disk', 'comment:# why'])
    expect(kinds('  timeout: 30')).toEqual(['key:timeout', 'punct::', 'number:30'])
    expect(kinds('enabled: false')).toEqual(['key:enabled', 'punct::', 'bool:false'])
    expect(kinds("at: '03:00'")).toEqual(['key:at', 'punct::', "string:'03:00'"])
    expect(kinds('- sh')).toEqual(['punct:-', 'plain:sh'])
    expect(kinds('when: {cron: "0 3 * * *"}')).toEqual(['key:when', 'punct::', 'punct:{', 'key:cron', 'punct::', 'string:"0 3 * * *"', 'punct:}'])
    expect(kinds('url: http://x/#frag')).toEqual(['key:url', 'punct::', 'plain:http://x/#frag'])
  })

  it('leaves a block scalar as text until the indentation ends', () => {
    const lines = tokenize('script: |\n  echo # hi\n  x: 1\ntimeout: 5s')
    expect(lines[1]).toEqual([{ kind: 'string', text: '  echo # hi' }])
    expect(lines[2]).toEqual([{ kind: 'string', text: '  x: 1' }])
    expect(lines[3][0]).toEqual({ kind: 'key', text: 'timeout' })
  })
})
