import { describe, expect, it } from 'vitest'
import { readForm, splitList, toggleWeekday, weekdayOn, writeForm } from './scheduleform'

const TEXT = `# nightly clean-up
id: nightly
job_id: cleanup
when:
  calendar:
    at: "03:00"
    days: [mon-fri]
target:
  all: true
jitter: 5m
constraints:
  window: 22:00-04:00 # keep
`

describe('the schedule form reads and writes the YAML', () => {
  it('reads the fields', () => {
    expect(readForm(TEXT)).toMatchObject({ id: 'nightly', job_id: 'cleanup', enabled: true, kind: 'calendar', at: '03:00', days: ['mon-fri'], targetAll: true, jitter: '5m', hasRollout: false })
    expect(readForm('id: [')).toBeNull()
    expect(readForm('- a')).toBeNull()
  })

  it('writes a change back, keeping comments and the keys it does not show', () => {
    const f = readForm(TEXT)!
    const out = writeForm(TEXT, { ...f, at: '04:30', days: ['sat', 'sun'], enabled: false })
    expect(out).toContain('# nightly clean-up')
    expect(out).toContain('window: 22:00-04:00 # keep')
    expect(out).toContain('at: "04:30"')
    expect(out).toContain('days: [sat, sun]')
    expect(out).toContain('enabled: false')
    expect(readForm(out)).toMatchObject({ at: '04:30', days: ['sat', 'sun'], enabled: false, jitter: '5m' })
  })

  it('switches the kind of when and the target', () => {
    const f = readForm(TEXT)!
    const cron = writeForm(TEXT, { ...f, kind: 'cron', cron: '*/15 * * * *', targetAll: false, groups: ['lab'], pcs: ['pc1'] })
    expect(readForm(cron)).toMatchObject({ kind: 'cron', cron: '*/15 * * * *', targetAll: false, groups: ['lab'], pcs: ['pc1'] })
    expect(cron).not.toContain('calendar')
    const every = writeForm(cron, { ...readForm(cron)!, kind: 'per_pc', every: '12h' })
    expect(readForm(every)).toMatchObject({ kind: 'per_pc', every: '12h' })
    const once = writeForm(every, { ...readForm(every)!, every: '' })
    expect(once).toContain('per_pc: once')
  })

  it('leaves the target alone when a rollout names it', () => {
    const text = 'id: s\njob_id: j\nwhen: {cron: "0 3 * * *"}\nrollout:\n  waves: [{group: a}]\n'
    const f = readForm(text)!
    expect(f.hasRollout).toBe(true)
    expect(writeForm(text, { ...f, targetAll: true })).not.toContain('target')
  })

  it('drops emptied optional fields', () => {
    const f = readForm(TEXT)!
    expect(writeForm(TEXT, { ...f, jitter: '' })).not.toContain('jitter')
  })
})

describe('weekday toggles', () => {
  it('spell ranges out and fold them back', () => {
    expect(toggleWeekday(['mon-fri'], 'wed')).toEqual(['mon', 'tue', 'thu', 'fri'])
    expect(toggleWeekday(['mon', 'tue', 'thu', 'fri'], 'wed')).toEqual(['mon-fri'])
    expect(toggleWeekday([], 'sun')).toEqual(['mon', 'tue', 'wed', 'thu', 'fri', 'sat'])
    expect(toggleWeekday(['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], 'sun')).toEqual([])
    expect(toggleWeekday(['tue#2'], 'mon')).toEqual(['mon', 'tue#2'])
    expect(weekdayOn(['mon-fri'], 'wed')).toBe(true)
    expect(weekdayOn(['mon-fri'], 'sat')).toBe(false)
    expect(weekdayOn([], 'sat')).toBe(true)
    expect(weekdayOn(['fri-mon'], 'sun')).toBe(true)
  })

  it('splits typed lists', () => {
    expect(splitList(' lab, web  db ')).toEqual(['lab', 'web', 'db'])
  })
})
