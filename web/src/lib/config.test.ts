import { describe, expect, it } from 'vitest'
import type { EffectiveConfigView } from '../api/types'
import {
  CONFIG_FIELDS,
  STOP_INVESTIGATION,
  errorField,
  fieldText,
  investigationEnds,
  localInputTime,
  parseFieldValue,
  parseScope,
  scopeKey,
  scopeLabel,
  scopePatch,
  scopeTexts,
  showValue,
  sourceOf,
  startInvestigation,
} from './config'

describe('parseFieldValue', () => {
  it('types durations: seconds as a number, units as text the server reads', () => {
    expect(parseFieldValue('duration', '90')).toEqual({ ok: true, value: 90 })
    expect(parseFieldValue('duration', ' 30s ')).toEqual({ ok: true, value: '30s' })
    expect(parseFieldValue('duration', '1h 30m')).toEqual({ ok: true, value: '1h 30m' })
    expect(parseFieldValue('duration', '2days')).toEqual({ ok: true, value: '2days' })
    expect(parseFieldValue('duration', 'soon').ok).toBe(false)
    expect(parseFieldValue('duration', '-5s').ok).toBe(false)
  })
  it('types counts as whole numbers that fit a u32', () => {
    expect(parseFieldValue('count', '15')).toEqual({ ok: true, value: 15 })
    expect(parseFieldValue('count', '0')).toEqual({ ok: true, value: 0 })
    expect(parseFieldValue('count', '4294967295')).toEqual({ ok: true, value: 4294967295 })
    expect(parseFieldValue('count', '4294967296').ok).toBe(false)
    expect(parseFieldValue('count', '1.5').ok).toBe(false)
    expect(parseFieldValue('count', '-1').ok).toBe(false)
    expect(parseFieldValue('count', 'ten').ok).toBe(false)
  })
  it('types booleans, times and text', () => {
    expect(parseFieldValue('bool', 'true')).toEqual({ ok: true, value: true })
    expect(parseFieldValue('bool', 'false')).toEqual({ ok: true, value: false })
    expect(parseFieldValue('bool', 'yes').ok).toBe(false)
    const local = localInputTime(Date.UTC(2026, 10, 27, 12, 30))
    expect(parseFieldValue('time', local)).toEqual({ ok: true, value: '2026-11-27T12:30:00.000Z' })
    expect(parseFieldValue('time', 'tomorrow').ok).toBe(false)
    expect(parseFieldValue('text', ' 1.4.0 ')).toEqual({ ok: true, value: '1.4.0' })
  })
  it('reads empty text as unset', () => {
    for (const f of CONFIG_FIELDS) expect(parseFieldValue(f.kind, '  ')).toEqual({ ok: true, value: null })
  })
})

describe('scopePatch', () => {
  const scope = { heartbeat_interval: '30s', process_perf_enabled: true, max_local_concurrent: 4, process_perf_expires_at: '2026-11-27T12:30:00Z' }
  it('starts from the scope and sends nothing when nothing changed', () => {
    const texts = scopeTexts(scope)
    expect(texts.heartbeat_interval).toBe('30s')
    expect(texts.process_perf_enabled).toBe('true')
    expect(texts.target_version).toBe('')
    expect(scopePatch(scope, texts)).toEqual({ patch: {}, errors: {} })
  })
  it('sends typed values for changed fields and null for cleared ones', () => {
    const texts = { ...scopeTexts(scope), heartbeat_interval: '', max_local_concurrent: '8', target_version: '1.4.0', process_perf_enabled: 'false' }
    expect(scopePatch(scope, texts)).toEqual({
      patch: { heartbeat_interval: null, max_local_concurrent: 8, target_version: '1.4.0', process_perf_enabled: false },
      errors: {},
    })
  })
  it('names the fields whose text is wrong', () => {
    const texts = { ...scopeTexts(scope), max_local_concurrent: 'many', host_perf_interval: 'often' }
    const edit = scopePatch(scope, texts)
    expect(Object.keys(edit.errors).sort()).toEqual(['host_perf_interval', 'max_local_concurrent'])
    expect(edit.patch).toEqual({})
  })
  it('sets and clears the terminal and signature policies, and checks the consent wait', () => {
    const policies = { terminal: 'deny' as const, command_signatures: 'enforce' as const }
    const texts = { ...scopeTexts(policies), terminal: 'consent', command_signatures: '', terminal_consent_timeout: '45s' }
    expect(scopePatch(policies, texts)).toEqual({
      patch: { terminal: 'consent', command_signatures: null, terminal_consent_timeout: '45s' },
      errors: {},
    })
    expect(Object.keys(scopePatch(policies, { ...texts, terminal_consent_timeout: 'a while' }).errors)).toEqual(['terminal_consent_timeout'])
  })
  it('works on an empty scope', () => {
    expect(scopePatch(undefined, { target_version_jitter: '10m' })).toEqual({ patch: { target_version_jitter: '10m' }, errors: {} })
  })
})

describe('field texts and display', () => {
  it('shows times in the local form of a datetime-local input', () => {
    const ms = new Date(2026, 10, 27, 9, 5).getTime()
    expect(fieldText('time', new Date(ms).toISOString())).toBe('2026-11-27T09:05')
    expect(showValue('process_perf_expires_at', new Date(ms).toISOString())).toBe('2026-11-27 09:05')
    expect(fieldText('count', 3)).toBe('3')
    expect(fieldText('text', null)).toBe('')
  })
  it('reads booleans and nothing', () => {
    expect(showValue('process_perf_enabled', true)).toBe('yes')
    expect(showValue('process_perf_enabled', false)).toBe('no')
    expect(showValue('target_version', null)).toBe('—')
    expect(showValue('heartbeat_interval', '30s')).toBe('30s')
  })
  it('finds the field a server error names', () => {
    expect(errorField('process_perf_top_n')).toBe('process_perf_top_n')
    expect(errorField('.heartbeat_interval')).toBe('heartbeat_interval')
    expect(errorField('scope')).toBeNull()
    expect(errorField(null)).toBeNull()
  })
})

describe('scopes', () => {
  it('parses and builds scope keys', () => {
    expect(parseScope('global')).toEqual({ kind: 'global', name: '' })
    expect(parseScope('groups.web')).toEqual({ kind: 'group', name: 'web' })
    expect(parseScope('pc.pc-01')).toEqual({ kind: 'pc', name: 'pc-01' })
    expect(parseScope('pcs.bad name')).toBeNull()
    expect(parseScope('teams.x')).toBeNull()
    expect(parseScope('')).toBeNull()
    expect(scopeKey({ kind: 'group', name: 'web' })).toBe('groups.web')
    expect(scopeKey({ kind: 'pc', name: 'pc_01' })).toBe('pcs.pc_01')
    expect(scopeKey({ kind: 'pc', name: '' })).toBeNull()
    expect(scopeKey({ kind: 'global', name: 'ignored' })).toBe('global')
  })
  it('labels scopes for people', () => {
    expect(scopeLabel('default')).toBe('built-in default')
    expect(scopeLabel('global')).toBe('global')
    expect(scopeLabel('groups.web')).toBe('group web')
    expect(scopeLabel('pcs.pc-01')).toBe('machine pc-01')
  })
})

describe('investigation mode', () => {
  const now = Date.parse('2026-11-27T12:00:00Z')
  const view = (enabled: boolean, until: string | null): EffectiveConfigView => ({
    pc_id: 'pc1',
    groups: [],
    effective: {
      heartbeat_interval: '30s',
      host_perf_interval: '1m',
      process_perf_enabled: enabled,
      process_perf_expires_at: until,
      process_perf_interval: '10s',
      process_perf_top_n: 15,
      max_local_concurrent: 4,
      target_version: null,
      target_version_jitter: '0s',
      command_signatures: 'enforce',
      terminal: 'allow',
      terminal_consent_timeout: '30s',
      terminal_idle_timeout: '15m',
    },
    sources: [{ field: 'process_perf_enabled', value: enabled, scope: 'pcs.pc1' }],
  })
  it('starts for the chosen time with a 10 s interval and stops by unsetting', () => {
    expect(startInvestigation(now, 3600_000)).toEqual({ process_perf_enabled: true, process_perf_expires_at: '2026-11-27T13:00:00.000Z', process_perf_interval: '10s' })
    expect(STOP_INVESTIGATION).toEqual({ process_perf_enabled: null, process_perf_expires_at: null })
  })
  it('is on only while enabled with an expiry ahead', () => {
    expect(investigationEnds(view(true, '2026-11-27T12:15:00Z'), now)).toBe(Date.parse('2026-11-27T12:15:00Z'))
    expect(investigationEnds(view(true, '2026-11-27T11:59:00Z'), now)).toBeNull()
    expect(investigationEnds(view(true, null), now)).toBeNull()
    expect(investigationEnds(view(false, '2026-11-27T12:15:00Z'), now)).toBeNull()
    expect(investigationEnds(undefined, now)).toBeNull()
  })
  it('says where a value came from', () => {
    expect(sourceOf(view(true, null), 'process_perf_enabled')).toBe('pcs.pc1')
    expect(sourceOf(view(true, null), 'nothing')).toBeUndefined()
  })
})
