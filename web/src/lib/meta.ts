// Operator attributes of a machine (KV agent_meta) and their editing rules.

export interface MetaEntry {
  key: string
  value: string
}

export interface AgentMeta {
  entries: MetaEntry[]
}

/// The attributes after setting `key` to `value` (empty value: removed), sorted by key.
export function withEntry(meta: AgentMeta, key: string, value: string): AgentMeta {
  const entries = meta.entries.filter((e) => e.key !== key)
  if (value !== '') entries.push({ key, value })
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return { entries }
}

/// Why `key` cannot name an attribute, or null (the backend's rule).
export function metaKeyError(key: string): string | null {
  if (!key || key.length > 64) return 'must be 1 to 64 characters'
  if (!/^[A-Za-z0-9_.-]+$/.test(key)) return "letters, digits, '_', '-' and '.' only"
  return null
}
