// Live updates: one SSE connection per signed-in tab. Each event invalidates the queries that
// show what changed, batched so a burst of results costs one refetch per query.

import { useQueryClient, type QueryKey } from '@tanstack/react-query'
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react'
import { getToken } from './api/client'
import { connectSse, type SseStatus } from './api/sse'
import { keysFor } from './lib/livekeys'

interface LiveState {
  status: SseStatus
  events: number
}

const LiveContext = createContext<LiveState>({ status: 'closed', events: 0 })

export function LiveProvider({ enabled, children }: { enabled: boolean; children: ReactNode }) {
  const qc = useQueryClient()
  const [state, setState] = useState<LiveState>({ status: 'closed', events: 0 })
  useEffect(() => {
    if (!enabled) return
    const pending = new Map<string, QueryKey>()
    let all = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const flush = () => {
      timer = undefined
      if (all) void qc.invalidateQueries()
      else for (const key of pending.values()) void qc.invalidateQueries({ queryKey: key })
      pending.clear()
      all = false
    }
    const schedule = () => {
      if (!timer) timer = setTimeout(flush, 200)
    }
    const stop = connectSse({
      url: '/api/events/stream',
      token: getToken,
      onStatus: (status) => setState((s) => ({ ...s, status })),
      onReconnect: () => {
        all = true
        schedule()
      },
      onMessage: (m) => {
        const keys = keysFor(m)
        if (keys === null) all = true
        else for (const k of keys) pending.set(JSON.stringify(k), k)
        setState((s) => ({ ...s, events: s.events + 1 }))
        schedule()
      },
    })
    return () => {
      stop()
      if (timer) clearTimeout(timer)
      setState({ status: 'closed', events: 0 })
    }
  }, [enabled, qc])
  return <LiveContext.Provider value={state}>{children}</LiveContext.Provider>
}

export function useLive(): LiveState {
  return useContext(LiveContext)
}
