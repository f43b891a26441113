// Notifications: messages shown to the people at the machines, how many confirmed them, and
// (operators) sending one to machines, groups or everyone.

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api, qs } from '../api/client'
import type { NotificationSummary, Page, Target } from '../api/types'
import { useAuth } from '../auth'
import { DataTable } from '../components/DataTable'
import { Badge, Card, NotAvailable, errorText } from '../components/ui'
import { formatDateTime, formatRelative } from '../lib/format'

function targetText(t: Target): string {
  if (t.all) return 'everyone'
  return [...(t.groups ?? []).map((g) => `group ${g}`), ...(t.pcs ?? [])].join(', ')
}

function Send({ onSent }: { onSent: () => void }) {
  const [title, setTitle] = useState('')
  const [body, setBody] = useState('')
  const [priority, setPriority] = useState('warn')
  const [ack, setAck] = useState(false)
  const [to, setTo] = useState('all')
  const [names, setNames] = useState('')
  const [error, setError] = useState<{ field?: string | null; text: string } | null>(null)
  const send = useMutation({
    mutationFn: () => {
      const list = names.split(/[\s,]+/).filter(Boolean)
      const target: Target = to === 'all' ? { all: true } : to === 'groups' ? { groups: list } : { pcs: list }
      return api.post('/api/notifications', { title, body, priority, require_ack: ack, target })
    },
    onSuccess: () => {
      setTitle('')
      setBody('')
      setError(null)
      onSent()
    },
    onError: (err) => setError({ field: err instanceof ApiError ? err.field : null, text: errorText(err) }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (!title.trim()) return setError({ field: 'title', text: 'a title is required' })
    if (to !== 'all' && !names.trim()) return setError({ field: 'target', text: 'name at least one machine or group' })
    send.mutate()
  }
  const err = (f: string) => (error && (error.field ?? 'form').startsWith(f) ? <span className="field-error">{error.text}</span> : null)
  return (
    <form className="stack" onSubmit={submit}>
      <label>
        Title
        <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} aria-invalid={!!err('title')} />
        {err('title')}
      </label>
      <label>
        Message
        <textarea rows={3} value={body} onChange={(e) => setBody(e.target.value)} />
        {err('body')}
      </label>
      <div className="row">
        <label className="inline">
          Priority
          <select value={priority} onChange={(e) => setPriority(e.target.value)}>
            <option value="info">info</option>
            <option value="warn">warn</option>
            <option value="emergency">emergency</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={ack} onChange={(e) => setAck(e.target.checked)} /> ask people to confirm
        </label>
      </div>
      <div className="row">
        <label className="inline">
          To
          <select value={to} onChange={(e) => setTo(e.target.value)}>
            <option value="all">everyone</option>
            <option value="groups">groups</option>
            <option value="pcs">machines</option>
          </select>
        </label>
        {to !== 'all' && <input aria-label={to === 'groups' ? 'Groups' : 'Machines'} placeholder={to === 'groups' ? 'web, db' : 'pc-01 pc-02'} value={names} onChange={(e) => setNames(e.target.value)} />}
      </div>
      {err('target')}
      {err('form')}
      {err('priority')}
      {err('expires_at')}
      <div>
        <button type="submit" className="btn primary" data-mutating disabled={send.isPending}>
          Send
        </button>
      </div>
    </form>
  )
}

export function NotificationsPage() {
  const { can } = useAuth()
  const qc = useQueryClient()
  const [page, setPage] = useState(0)
  const size = 25
  const q = useQuery({
    queryKey: ['notifications', page],
    queryFn: ({ signal }) => api.get<Page<NotificationSummary>>(`/api/notifications${qs({ limit: size, offset: page * size })}`, signal),
    retry: false,
    placeholderData: keepPreviousData,
  })
  if (q.error instanceof ApiError && q.error.routeMissing)
    return (
      <div className="page">
        <h1>Notifications</h1>
        <Card title="Notifications">
          <NotAvailable />
        </Card>
      </div>
    )
  return (
    <div className="page">
      <h1>Notifications</h1>
      <p className="muted">Messages shown to the people at the machines.</p>
      {can('operator') && (
        <Card title="Send a notification">
          <Send onSent={() => void qc.invalidateQueries({ queryKey: ['notifications'] })} />
        </Card>
      )}
      <DataTable
        label="Notifications"
        filename="notifications"
        rows={q.data?.items}
        loading={q.isPending}
        error={q.error}
        rowKey={(n) => n.id}
        empty="Nothing has been sent."
        server={{
          total: q.data?.total ?? 0,
          page,
          pageSize: size,
          onPage: setPage,
          exportAll: async () => (await api.get<Page<NotificationSummary>>('/api/notifications?limit=1000')).items,
        }}
        columns={[
          { key: 'issued_at', header: 'Sent', value: (n) => n.issued_at, render: (n) => <span title={formatDateTime(n.issued_at)}>{formatRelative(n.issued_at)}</span> },
          { key: 'priority', header: 'Priority', value: (n) => n.priority, render: (n) => <Badge tone={n.priority === 'emergency' ? 'bad' : n.priority === 'warn' ? 'warn' : 'info'}>{n.priority}</Badge> },
          { key: 'title', header: 'Title', value: (n) => n.title },
          { key: 'body', header: 'Message', value: (n) => n.body, wide: true },
          { key: 'target', header: 'To', value: (n) => targetText(n.target) },
          { key: 'acks', header: 'Confirmed', value: (n) => (n.require_ack ? n.acks : null), render: (n) => (n.require_ack ? n.acks : <span className="muted">not asked</span>), align: 'right' },
          { key: 'issued_by', header: 'By', value: (n) => n.issued_by ?? '', wide: true },
        ]}
      />
    </div>
  )
}
