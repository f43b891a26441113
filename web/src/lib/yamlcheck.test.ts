import { describe, expect, it } from 'vitest'
import { checkManifest, checkSchedule, locateField, manifestId, serverProblem, splitPath } from './yamlcheck'

const GOOD = `id: hello
version: 1
description: say hello
execute:
  shell: sh
  script: echo hello
  timeout: 30s
tags: [demo, linux]
`

describe('checkManifest', () => {
  it('accepts a good manifest', () => {
    expect(checkManifest(GOOD)).toEqual([])
  })
  it('reports YAML syntax errors with their line', () => {
    const problems = checkManifest('id: a\nexecute:\n  shell: sh\n   script: x\n')
    expect(problems.length).toBeGreaterThan(0)
    expect(problems[0].line).toBeGreaterThanOrEqual(3)
    expect(problems[0].source).toBe('yaml')
  })
  it('names unknown keys, missing fields and bad shells at their line', () => {
    const text = 'id: x\nversion: 1\nexecute:\n  shell: zsh\n  script: echo\n  timeout: 5s\n  retries: 3\ncolour: red\n'
    const problems = checkManifest(text)
    const byField = Object.fromEntries(problems.map((p) => [p.field, p]))
    expect(byField['execute.shell'].line).toBe(4)
    expect(byField['execute.retries'].line).toBe(7)
    expect(byField['colour'].line).toBe(8)
  })
  it('requires id, version and execute', () => {
    const problems = checkManifest('description: nothing\n')
    expect(problems.map((p) => p.message)).toEqual(expect.arrayContaining(['missing field `id`', 'missing field `version`', 'missing field `execute`']))
    expect(checkManifest('')).toHaveLength(1)
    expect(checkManifest('- a\n- b\n')[0].message).toMatch(/mapping/)
  })
})

describe('server errors', () => {
  it('splits paths like the server writes them', () => {
    expect(splitPath('inventory.explode[0].table')).toEqual(['inventory', 'explode', 0, 'table'])
    expect(splitPath('tags[2]')).toEqual(['tags', 2])
  })
  it('finds the line of a field, or of its nearest parent', () => {
    expect(locateField(GOOD, 'execute.timeout')).toEqual({ line: 7, col: 3 })
    expect(locateField(GOOD, 'tags[1]')?.line).toBe(8)
    expect(locateField(GOOD, 'execute.run_as')?.line).toBe(4)
    expect(locateField(GOOD, 'nothing.here')).toBeNull()
  })
  it('maps a 422 with a field to its line', () => {
    const p = serverProblem(GOOD, { status: 422, code: 'validation_failed', message: 'execute.timeout: must be between 1s and 7days', field: 'execute.timeout' })
    expect(p).toMatchObject({ line: 7, field: 'execute.timeout', source: 'server' })
  })
  it('maps a syntax error by the line in its message, else to no line', () => {
    expect(serverProblem('a', { status: 400, code: 'invalid_document', message: 'invalid YAML: bad indent at line 3 column 5' })).toMatchObject({ line: 3, col: 5 })
    expect(serverProblem('a', { status: 400, code: 'invalid_document', message: 'nope', field: '(document)' })).toEqual({ message: 'nope', field: undefined, source: 'server' })
  })
  it('reads the id', () => {
    expect(manifestId(GOOD)).toBe('hello')
    expect(manifestId(': :')).toBeNull()
  })
})

describe('checkSchedule', () => {
  it('accepts a schedule and needs exactly one kind of when', () => {
    expect(checkSchedule('id: nightly.\njob_id: hello\nwhen:\n  cron: "0 3 * * *"\n')[0]).toMatchObject({ field: 'id' })
    expect(checkSchedule('id: nightly\njob_id: hello.\nwhen:\n  cron: "0 3 * * *"\n')[0]).toMatchObject({ field: 'job_id' })
    expect(checkSchedule('id: nightly\njob_id: hello\nwhen:\n  cron: "0 3 * * *"\ntarget:\n  all: true\n')).toEqual([])
    const both = checkSchedule('id: s\njob_id: j\nwhen:\n  cron: "* * * * *"\n  per_pc: once\n')
    expect(both[0]).toMatchObject({ field: 'when', line: 3 })
    expect(checkSchedule('id: s\njob_id: j\nwhen:\n  hourly: true\n')[0]).toMatchObject({ field: 'when.hourly', line: 4 })
  })
  it('takes the original agent-side schedule as written', () => {
    expect(checkSchedule('id: logon-compliance\njob_id: check-bitlocker\nwhen: { on: [startup, logon] }\nruns_on: agent\ntarget: { all: true }\n')).toEqual([])
  })
  it('names missing and unknown fields', () => {
    const problems = checkSchedule('job: x\n')
    expect(problems.map((p) => p.message)).toEqual(expect.arrayContaining(['missing field `id`', 'missing field `job_id`']))
    expect(problems.find((p) => p.field === 'job')?.line).toBe(1)
  })
})
