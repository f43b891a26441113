// Collected file bundles (operators and admins): the zips jobs with a `collect` hint uploaded
// to object store `collections`, newest first, with download and delete. `?pc=` and `?job=`
// narrow the list (the result page links here through its bundle).

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { Link } from 'react-router'
import { api, getToken, qs, toApiError } from '../api/client'
import type { BundleInfo } from '../api/types'
import { DataTable } from '../components/DataTable'
import { Debounced } from '../components/Debounced'
import { ErrorBox } from '../components/ui'
import { formatBytes, formatDateTime } from '../lib/format'
import { useUrlState } from '../lib/params'

const KEYS = ['pc', 'job'] as const

/** The path of a bundle: each part of its key encoded on its own. */
function bundlePath(key: string): string {
  return `/api/collect/bundles/${key.split('/').map(encodeURIComponent).join('/')}`
}

async function download(key: string): Promise<void> {
  const token = getToken()
  const resp = await fetch(bundlePath(key), { headers: token ? { Authorization: `Bearer ${token}` } : {} })
  if (!resp.ok) throw await toApiError(resp)
  const url = URL.createObjectURL(await resp.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = key.replaceAll('/', '_').replaceAll(':', '-')
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export function CollectionsPage() {
  const [s, set] = useUrlState(KEYS)
  const qc = useQueryClient()
  const [error, setError] = useState<unknown>(null)
  const q = useQuery({
    queryKey: ['collect-bundles', s.pc, s.job],
    queryFn: ({ signal }) => api.get<BundleInfo[]>(`/api/collect/bundles${qs({ pc: s.pc, job: s.job })}`, signal),
  })
  const remove = useMutation({
    mutationFn: (key: string) => api.del<void>(bundlePath(key)),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['collect-bundles'] }),
    onError: setError,
  })
  return (
    <div className="page">
      <h1>Collections</h1>
      <p className="muted">
        File bundles that jobs with a <code>collect</code> hint uploaded, newest first. They expire after <code>collect_retention_days</code> (Settings; default 30).
      </p>
      <div className="filters" role="group" aria-label="Bundle filters">
        <label>
          Machine
          <Debounced value={s.pc} onChange={(v) => set({ pc: v })} placeholder="machine id" />
        </label>
        <label>
          Job
          <Debounced value={s.job} onChange={(v) => set({ job: v })} placeholder="job id" />
        </label>
      </div>
      <ErrorBox error={error} />
      <DataTable
        label="Bundles"
        filename="bundles"
        rows={q.data}
        loading={q.isPending}
        error={q.error}
        rowKey={(b) => b.key}
        empty="No bundles."
        columns={[
          { key: 'created_at', header: 'Created', value: (b) => b.created_at, render: (b) => formatDateTime(b.created_at) },
          { key: 'pc_id', header: 'Machine', value: (b) => b.pc_id, render: (b) => <Link to={`/agents/${encodeURIComponent(b.pc_id)}`}>{b.pc_id}</Link> },
          { key: 'job_id', header: 'Job', value: (b) => b.job_id, render: (b) => <Link to={`/jobs/${encodeURIComponent(b.job_id)}`}>{b.job_id}</Link> },
          { key: 'size', header: 'Size', value: (b) => b.size, render: (b) => formatBytes(b.size), align: 'right' },
          { key: 'key', header: 'Key', value: (b) => b.key, render: (b) => <code>{b.key}</code>, wide: true },
          {
            key: 'actions',
            header: '',
            value: () => '',
            sortable: false,
            noExport: true,
            render: (b) => (
              <span className="row nowrap">
                <button type="button" className="btn small" onClick={() => download(b.key).catch(setError)}>
                  Download
                </button>
                <button
                  type="button"
                  className="btn small danger"
                  data-mutating
                  onClick={() => {
                    if (confirm(`Delete bundle ${b.key}?`)) remove.mutate(b.key)
                  }}
                >
                  Delete
                </button>
              </span>
            ),
          },
        ]}
      />
    </div>
  )
}
