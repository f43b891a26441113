// "Add a machine" on Machine access (admins): asks the backend for the one-line agent
// installer (`POST /api/enrollment/install-command`: a single-use enrollment token, the
// published agent binary from this backend checked by SHA-256, agent.toml and the systemd
// unit) and shows it once with a copy button, like `kanade agent install-command`.

import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError, api } from '../api/client'
import type { TokenRow } from '../api/types'
import { formatDateTime } from '../lib/format'
import { Card, errorText } from './ui'

/** The answer of `POST /api/enrollment/install-command`. */
export interface InstallCommand {
  command: string
  script: string
  release: string
  sha256: string
  download_url: string
  token: TokenRow
}

export function AddMachine() {
  const qc = useQueryClient()
  const [group, setGroup] = useState('')
  const [brokerUrl, setBrokerUrl] = useState('')
  const [error, setError] = useState<{ field: string; text: string } | null>(null)
  const [made, setMade] = useState<InstallCommand | null>(null)
  const [copied, setCopied] = useState(false)
  const create = useMutation({
    mutationFn: () =>
      api.post<InstallCommand>('/api/enrollment/install-command', {
        ...(group.trim() ? { group: group.trim() } : {}),
        ...(brokerUrl.trim() ? { nats_url: brokerUrl.trim() } : {}),
        backend_url: window.location.origin,
      }),
    onSuccess: (m) => {
      setMade(m)
      setError(null)
      void qc.invalidateQueries({ queryKey: ['enrollment-tokens'] })
    },
    onError: (err) => setError({ field: err instanceof ApiError && err.field ? err.field : 'form', text: errorText(err) }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate()
  }
  const err = (k: string) => (error?.field === k ? <span className="field-error">{error.text}</span> : null)
  return (
    <Card title="Add a machine">
      {made ? (
        <div className="alert info stack" role="status" data-testid="install-command">
          <strong>Run this as root on the new Linux machine — shown this once</strong>
          <code className="break" data-testid="install-command-text">
            {made.command}
          </code>
          <span>
            It installs agent {made.release} (SHA-256 <code>{made.sha256.slice(0, 16)}…</code>), enrolls with token {made.token.id} (one machine, until {formatDateTime(made.token.expires_at)}) and starts kanade-agent.
          </span>
          <div className="row">
            <button
              type="button"
              className="btn small"
              onClick={async () => {
                await navigator.clipboard?.writeText(made.command)
                setCopied(true)
                setTimeout(() => setCopied(false), 1500)
              }}
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
            <button type="button" className="btn small" onClick={() => setMade(null)}>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <p className="muted">One command for a new machine: it downloads the agent from this backend, checks it, configures it with a single-use token and starts it.</p>
          <div className="row wrap">
            <label>
              Machine joins group
              <input value={group} onChange={(e) => setGroup(e.target.value)} placeholder="optional" aria-invalid={error?.field === 'group'} />
              {err('group')}
            </label>
            <label>
              Broker URL (optional)
              <input value={brokerUrl} onChange={(e) => setBrokerUrl(e.target.value)} placeholder="tls://broker.example.org:4222" aria-invalid={error?.field === 'nats_url'} />
              {err('nats_url')}
            </label>
          </div>
          {err('release')}
          {err('form')}
          <div className="row end">
            <button type="submit" className="btn primary" data-mutating disabled={create.isPending}>
              Make install command
            </button>
          </div>
        </form>
      )}
    </Card>
  )
}
