// Agent config, layer by layer: pick a scope (global, a group, a machine), see the fields set
// there and (operators) change them; an emptied field is unset. A machine's scope shows its
// effective config too, each value with the scope it came from.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useMemo, useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { ApiError, api } from '../api/client'
import type { AgentRelease, ConfigScope, EffectiveConfigView, Sourced } from '../api/types'
import { useAuth } from '../auth'
import { EffectiveConfigTable } from '../components/EffectiveConfig'
import { ScopePicker } from '../components/ScopePicker'
import { Card, ErrorBox, errorText } from '../components/ui'
import { CONFIG_FIELDS, errorField, fieldText, parseScope, scopeKey, scopeLabel, scopePatch, scopeTexts, showValue, type ConfigField, type ConfigValue, type ScopeRef } from '../lib/config'
import { useUrlState } from '../lib/params'

const KEYS = ['scope'] as const
const GLOBAL: ScopeRef = { kind: 'global', name: '' }

const PLACEHOLDER: Record<ConfigField['kind'], string> = {
  duration: 'e.g. 30s, 5m, 1h',
  count: 'a whole number',
  bool: '',
  time: '',
  text: 'e.g. 1.4.0',
  choice: '',
}

/** What an unset field falls back to, in words: "30s (built-in default)". */
function fallbackText(s: Sourced | undefined): string | null {
  if (!s) return null
  const none = s.value === null || s.value === undefined || s.value === ''
  if (s.field === 'max_local_concurrent' && none) return "each machine's CPU count (built-in default)"
  return `${none ? 'none' : showValue(s.field, s.value)} (${scopeLabel(s.scope)})`
}

/** A server message without the field name it starts with (it is shown at the field). */
function atField(field: string, message: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message
}

function FieldInput({ field, id, value, onChange, invalid, versions, fallback }: { field: ConfigField; id: string; value: string; onChange: (v: string) => void; invalid: boolean; versions?: string[]; fallback?: string | null }) {
  // Named by the field alone (the label cell also says what it is for).
  const named = { id, 'aria-label': field.name, 'aria-describedby': `${id}-about`, 'aria-invalid': invalid }
  if (field.kind === 'bool')
    return (
      <select {...named} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{fallback ? `not set: ${fallback}` : 'not set'}</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    )
  if (field.kind === 'choice')
    return (
      <select {...named} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{fallback ? `not set: ${fallback}` : 'not set'}</option>
        {(field.choices ?? []).map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    )
  if (field.kind === 'time') return <input {...named} type="datetime-local" value={value} onChange={(e) => onChange(e.target.value)} />
  return (
    <>
      <input
        {...named}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder={fallback ? `not set: ${fallback}` : `not set (${PLACEHOLDER[field.kind]})`}
        title={PLACEHOLDER[field.kind] || undefined}
        inputMode={field.kind === 'count' ? 'numeric' : undefined}
        list={versions ? `${id}-versions` : undefined}
        autoComplete="off"
        spellCheck={false}
      />
      {versions && (
        <datalist id={`${id}-versions`}>
          {versions.map((v) => (
            <option key={v} value={v} />
          ))}
        </datalist>
      )}
    </>
  )
}

function ScopeEditor({ scope }: { scope: string }) {
  const { can } = useAuth()
  const editable = can('operator')
  const qc = useQueryClient()
  const id = useId()
  const q = useQuery({ queryKey: ['config', scope], queryFn: ({ signal }) => api.get<ConfigScope>(`/api/config/${encodeURIComponent(scope)}`, signal) })
  const releases = useQuery({ queryKey: ['releases'], queryFn: ({ signal }) => api.get<AgentRelease[]>('/api/agent-releases', signal), retry: false, enabled: editable })
  const versions = useMemo(() => [...new Set((releases.data ?? []).map((r) => r.version))], [releases.data])
  // What each field falls back to when it is unset here (the layers below this scope).
  const inherited = useQuery({ queryKey: ['config', scope, 'inherited'], queryFn: ({ signal }) => api.get<Sourced[]>(`/api/config/${encodeURIComponent(scope)}/inherited`, signal), retry: false })
  const fallbackOf = (name: string) => fallbackText(inherited.data?.find((s) => s.field === name))
  const [texts, setTexts] = useState<Record<string, string> | null>(null)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [formError, setFormError] = useState<unknown>(null)
  const [saved, setSaved] = useState<string | null>(null)

  // The form shows the scope until the first edit; later refetches do not overwrite edits.
  const shown = useMemo(() => texts ?? scopeTexts(q.data), [texts, q.data])
  const edit = useMemo(() => scopePatch(q.data, shown), [q.data, shown])
  const dirty = Object.keys(edit.patch).length + Object.keys(edit.errors).length > 0

  const save = useMutation({
    mutationFn: (patch: Record<string, ConfigValue | null>) => api.patch<ConfigScope>(`/api/config/${encodeURIComponent(scope)}`, patch),
    onSuccess: (data, patch) => {
      qc.setQueryData(['config', scope], data)
      setTexts(scopeTexts(data))
      setErrors({})
      const n = Object.keys(patch).length
      setSaved(`Saved ${n} change${n === 1 ? '' : 's'} to ${scopeLabel(scope)}.`)
      void qc.invalidateQueries({ queryKey: ['agent'] })
      void qc.invalidateQueries({ queryKey: ['config'] })
    },
    onError: (err) => {
      const f = err instanceof ApiError ? errorField(err.field) : null
      if (f) setErrors({ [f]: atField(f, errorText(err)) })
      else setFormError(err)
    },
  })
  const clearAll = useMutation({
    mutationFn: () => api.del(`/api/config/${encodeURIComponent(scope)}`),
    onSuccess: () => {
      qc.setQueryData(['config', scope], {})
      setTexts(scopeTexts({}))
      setErrors({})
      setSaved(`Removed every setting of ${scopeLabel(scope)}.`)
      void qc.invalidateQueries({ queryKey: ['agent'] })
      void qc.invalidateQueries({ queryKey: ['config'] })
    },
    onError: setFormError,
  })

  const submit = (e: FormEvent) => {
    e.preventDefault()
    setSaved(null)
    setFormError(null)
    setErrors(edit.errors)
    if (Object.keys(edit.errors).length === 0 && Object.keys(edit.patch).length > 0) save.mutate(edit.patch)
  }
  const change = (name: string, v: string) => {
    setTexts({ ...shown, [name]: v })
    setErrors((e) => {
      const next = { ...e }
      delete next[name]
      return next
    })
    setSaved(null)
  }

  const setCount = q.data ? Object.keys(q.data).length : 0
  return (
    <Card
      title={
        <>
          Settings of {scopeLabel(scope)} {scope !== 'global' && <code className="muted small">{scope}</code>}
        </>
      }
      actions={q.data ? <span className="muted">{setCount === 0 ? 'nothing set here' : `${setCount} field${setCount === 1 ? '' : 's'} set here`}</span> : undefined}
    >
      <ErrorBox error={q.error} />
      {q.isPending && <p className="muted">Loading…</p>}
      {q.data && (
        <form className="stack" onSubmit={submit} noValidate>
          <div className="dt-scroll">
            <table className="config-form" aria-label={`Settings of ${scope}`}>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">{editable ? 'Value here (empty: not set)' : 'Value here'}</th>
                </tr>
              </thead>
              <tbody>
                {CONFIG_FIELDS.map((f) => {
                  const inputId = `${id}-${f.name}`
                  const text = shown[f.name] ?? ''
                  const changed = text.trim() !== fieldText(f.kind, q.data[f.name]).trim()
                  // A duration is checked as it is typed (the server's grammar and 3650-day cap).
                  const err = errors[f.name] ?? (f.kind === 'duration' ? edit.errors[f.name] : undefined)
                  const fallback = fallbackOf(f.name)
                  return (
                    <tr key={f.name} className={changed ? 'changed' : undefined} data-field={f.name}>
                      <td>
                        <label htmlFor={editable ? inputId : undefined} className="config-field">
                          <code>{f.name}</code>
                          <span className="muted small" id={`${inputId}-about`}>
                            {f.about}
                          </span>
                        </label>
                      </td>
                      <td>
                        {editable ? (
                          <div className="stack tight">
                            <div className="row nowrap">
                              <FieldInput field={f} id={inputId} value={text} onChange={(v) => change(f.name, v)} invalid={!!err} versions={f.name === 'target_version' ? versions : undefined} fallback={fallback} />
                              {text !== '' && (
                                <button type="button" className="btn small ghost" aria-label={`Unset ${f.name}`} title="Unset (the value comes from the scopes below again)" onClick={() => change(f.name, '')}>
                                  ✕
                                </button>
                              )}
                            </div>
                            {err && (
                              <span className="field-error" role="alert">
                                {err}
                              </span>
                            )}
                          </div>
                        ) : q.data[f.name] === undefined ? (
                          <span className="muted">{fallback ? `not set: ${fallback}` : 'not set'}</span>
                        ) : (
                          showValue(f.name, q.data[f.name])
                        )}
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
          {formError ? <ErrorBox error={formError} /> : null}
          {saved && (
            <p className="alert ok" role="status">
              {saved}
            </p>
          )}
          {editable && (
            <div className="row">
              <button type="submit" className="btn primary" data-mutating disabled={!dirty || save.isPending}>
                {save.isPending ? 'Saving…' : 'Save changes'}
              </button>
              <button
                type="button"
                className="btn"
                disabled={!dirty}
                onClick={() => {
                  setTexts(scopeTexts(q.data))
                  setErrors({})
                }}
              >
                Discard
              </button>
              <span className="dt-spacer" />
              <button
                type="button"
                className="btn danger"
                data-mutating
                disabled={setCount === 0 || clearAll.isPending}
                onClick={() => {
                  if (confirm(`Remove every setting of ${scopeLabel(scope)}?`)) clearAll.mutate()
                }}
              >
                Remove all settings here
              </button>
            </div>
          )}
        </form>
      )}
    </Card>
  )
}

function MachineEffective({ pcId }: { pcId: string }) {
  const q = useQuery({
    queryKey: ['agent', pcId, 'config'],
    queryFn: ({ signal }) => api.get<EffectiveConfigView>(`/api/agents/${encodeURIComponent(pcId)}/effective_config`, signal),
  })
  return (
    <Card title={`Effective config of ${pcId}`} actions={<Link to={`/agents/${encodeURIComponent(pcId)}`}>Machine page</Link>}>
      <p className="muted small">
        {q.data
          ? q.data.groups.length
            ? `Built-in defaults, then global, then the group${q.data.groups.length === 1 ? '' : 's'} ${q.data.groups.join(', ')}, then the machine.`
            : 'Built-in defaults, then global, then the machine (it is in no group).'
          : 'What the machine runs with, and where each value comes from.'}
      </p>
      <EffectiveConfigTable view={q.data} loading={q.isPending} error={q.error} />
    </Card>
  )
}

export function ConfigPage() {
  const [s, set] = useUrlState(KEYS)
  // The URL holds the scope shown; a kind picked before its name is typed waits here.
  const [pending, setPending] = useState<ScopeRef | null>(null)
  const ref = pending ?? parseScope(s.scope) ?? GLOBAL
  const key = scopeKey(ref)
  const pick = (r: ScopeRef) => {
    const k = scopeKey(r)
    setPending(k ? null : r)
    if (k) set({ scope: k === 'global' ? null : k })
  }
  return (
    <div className="page">
      <h1>Config</h1>
      <p className="muted">
        Agent settings come in layers: built-in defaults, then <strong>global</strong>, then each <strong>group</strong> a machine is in (alphabetically), then the <strong>machine</strong> itself. A later layer wins; agents follow changes live.
      </p>
      <ScopePicker value={ref} onChange={pick} />
      {key ? <ScopeEditor key={key} scope={key} /> : <p className="muted">Name the {ref.kind === 'group' ? 'group' : 'machine'} whose settings to show.</p>}
      {key && ref.kind === 'pc' && <MachineEffective pcId={ref.name} />}
    </div>
  )
}
