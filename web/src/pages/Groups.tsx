// Groups: names and how many machines are in each (membership is edited on a machine's page,
// from the agent list's bulk actions, or by creating a group here from picked machines or a
// search), each group's config scope, and who is e-mailed about its compliance alerts
// (operators edit the list).

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { ApiError, api } from '../api/client'
import type { GroupEmails, GroupSummary } from '../api/types'
import { useAuth } from '../auth'
import { DataTable } from '../components/DataTable'
import { DerivedGroups } from '../components/DerivedGroups'
import { NewGroup } from '../components/NewGroup'
import { Card, ErrorBox, errorText } from '../components/ui'
import { emailIndex, emailProblems, splitEmails } from '../lib/emails'
import { useUrlState } from '../lib/params'

const KEYS = ['contacts', 'new'] as const

function Contacts({ group, onClose }: { group: string; onClose: () => void }) {
  const { can } = useAuth()
  const editable = can('operator')
  const qc = useQueryClient()
  const q = useQuery({ queryKey: ['groups', group, 'email'], queryFn: ({ signal }) => api.get<GroupEmails>(`/api/groups/${encodeURIComponent(group)}/email`, signal) })
  const [draft, setDraft] = useState<string[] | null>(null)
  const [adding, setAdding] = useState('')
  const [serverError, setServerError] = useState<{ index: number | null; text: string } | null>(null)
  const [saved, setSaved] = useState(false)
  const emails = draft ?? q.data?.emails ?? []
  const problems = emailProblems(emails)
  const dirty = draft !== null && JSON.stringify(draft) !== JSON.stringify(q.data?.emails ?? [])
  const save = useMutation({
    mutationFn: (list: string[]) => api.put<GroupEmails>(`/api/groups/${encodeURIComponent(group)}/email`, { emails: list }),
    onSuccess: (data) => {
      qc.setQueryData(['groups', group, 'email'], data)
      setDraft(null)
      setSaved(true)
    },
    onError: (err) => setServerError({ index: err instanceof ApiError ? emailIndex(err.field) : null, text: errorText(err) }),
  })
  const edit = (next: string[]) => {
    setDraft(next)
    setServerError(null)
    setSaved(false)
  }
  const add = (e: FormEvent) => {
    e.preventDefault()
    const more = splitEmails(adding)
    if (more.length) edit([...emails, ...more])
    setAdding('')
  }
  return (
    <Card
      title={
        <>
          Contacts of group <code>{group}</code>
        </>
      }
      actions={
        <button type="button" className="btn small ghost" onClick={onClose} aria-label="Close contacts">
          ✕
        </button>
      }
    >
      <p className="muted small">These addresses are e-mailed when a check fails on a machine of this group.</p>
      <ErrorBox error={q.error} />
      {q.isPending ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <ul className="chips" aria-label={`Addresses of ${group}`}>
            {emails.length === 0 && <li className="muted">Nobody is e-mailed about this group.</li>}
            {emails.map((email, i) => {
              const bad = problems.get(i) ?? (serverError?.index === i ? serverError.text : undefined)
              return (
                <li key={`${email}-${i}`} className={`chip ${bad ? 'bad' : ''}`} title={bad}>
                  {email}
                  {editable && (
                    <button type="button" className="chip-x" aria-label={`Remove ${email}`} onClick={() => edit(emails.filter((_, j) => j !== i))}>
                      ✕
                    </button>
                  )}
                </li>
              )
            })}
          </ul>
          {[...problems.values()].map((p) => (
            <span key={p} className="field-error">
              {p}
            </span>
          ))}
          {serverError && (serverError.index === null || !problems.size) && <span className="field-error">{serverError.text}</span>}
          {editable && (
            <>
              <form className="row" onSubmit={add} noValidate>
                <input inputMode="email" autoComplete="off" aria-label="Address to add" placeholder="ops@example.com" title="Several at once: separate them with commas" value={adding} onChange={(e) => setAdding(e.target.value)} className="wide-input" />
                <button type="submit" className="btn small" disabled={!adding.trim()}>
                  Add
                </button>
              </form>
              <div className="row">
                <button type="button" className="btn primary" data-mutating disabled={!dirty || problems.size > 0 || save.isPending} onClick={() => save.mutate(emails)}>
                  {save.isPending ? 'Saving…' : 'Save contacts'}
                </button>
                {dirty && (
                  <button type="button" className="btn" onClick={() => edit(q.data?.emails ?? [])}>
                    Discard
                  </button>
                )}
                {saved && (
                  <span role="status" className="ok-text">
                    Saved.
                  </span>
                )}
              </div>
            </>
          )}
        </>
      )}
    </Card>
  )
}

export function GroupsPage() {
  const [s, set] = useUrlState(KEYS)
  const { can } = useAuth()
  const q = useQuery({ queryKey: ['groups'], queryFn: ({ signal }) => api.get<GroupSummary[]>('/api/groups', signal), retry: false })
  return (
    <div className="page">
      <h1>Groups</h1>
      <p className="muted">
        A machine joins or leaves a group on its own page or from the agent list; commands sent to a group reach its members live. Groups kept current from inventory are{' '}
        <a href="#derived-groups">derived groups</a>.
      </p>
      {can('operator') &&
        (s.new ? (
          <NewGroup onClose={() => set({ new: null })} />
        ) : (
          <div className="row">
            <button type="button" className="btn primary" onClick={() => set({ new: '1' })}>
              New group…
            </button>
          </div>
        ))}
      <DataTable
        label="Groups"
        filename="groups"
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(g) => g.name}
        initialSort={{ key: 'name', dir: 'asc' }}
        empty="No groups yet."
        rowClass={(g) => (g.name === s.contacts ? 'selected' : undefined)}
        columns={[
          { key: 'name', header: 'Group', value: (g) => g.name, render: (g) => <Link to={`/agents?group=${encodeURIComponent(g.name)}`}>{g.name}</Link> },
          { key: 'members', header: 'Machines', value: (g) => g.members, align: 'right' },
          { key: 'config', header: 'Config', value: () => '', sortable: false, noExport: true, render: (g) => <Link to={`/config?scope=${encodeURIComponent(`groups.${g.name}`)}`}>settings</Link> },
          {
            key: 'contacts',
            header: 'Alert contacts',
            value: () => '',
            sortable: false,
            noExport: true,
            render: (g) => (
              <button type="button" className="linkish" aria-label={`Contacts of ${g.name}`} onClick={() => set({ contacts: g.name })}>
                contacts
              </button>
            ),
          },
        ]}
      />
      {s.contacts && <Contacts key={s.contacts} group={s.contacts} onClose={() => set({ contacts: null })} />}
      <div id="derived-groups">
        <DerivedGroups />
      </div>
    </div>
  )
}
