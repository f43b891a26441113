// Server settings as GET/PUT /api/settings answer them, and the check of a typed value.

export interface SettingRow {
  key: string
  value: number | null
  effective: number | null
  min: number
  max: number
  help: string
}

export interface SettingsView {
  settings: SettingRow[]
}

/// The value to send for what was typed: null to unset, a number in range, or why not.
export function settingValue(row: SettingRow, text: string): { value: number | null } | { error: string } {
  const t = text.trim()
  if (t === '') return { value: null }
  if (!/^\d+$/.test(t)) return { error: `must be a whole number from ${row.min} to ${row.max}` }
  const n = Number(t)
  if (n < row.min || n > row.max) return { error: `must be from ${row.min} to ${row.max}` }
  return { value: n }
}
