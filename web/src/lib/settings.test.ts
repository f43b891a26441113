import { describe, expect, it } from 'vitest'
import { settingValue, type SettingRow } from './settings'

const row: SettingRow = { key: 'session_ttl_hours', value: null, effective: 24, min: 1, max: 8760, help: '' }

describe('settingValue', () => {
  it('sends null for an empty field and a number in range', () => {
    expect(settingValue(row, ' ')).toEqual({ value: null })
    expect(settingValue(row, '12')).toEqual({ value: 12 })
  })
  it('refuses what the backend would refuse', () => {
    expect(settingValue(row, '0')).toEqual({ error: 'must be from 1 to 8760' })
    expect(settingValue(row, 'soon')).toHaveProperty('error')
  })
})
