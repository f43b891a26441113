// Page state kept in the URL's query string, so filters survive reloads and links share them.

import { useCallback, useMemo } from 'react'
import { useSearchParams } from 'react-router'

export function useUrlState<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams()
  const values = useMemo(() => Object.fromEntries(keys.map((k) => [k, params.get(k) ?? ''])) as Record<K, string>, [params, keys])
  const set = useCallback(
    (patch: Partial<Record<K, string | number | null>>) => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev)
          for (const [k, v] of Object.entries(patch) as [K, string | number | null | undefined][]) {
            if (v === null || v === undefined || v === '') next.delete(k)
            else next.set(k, String(v))
          }
          return next
        },
        { replace: true },
      )
    },
    [setParams],
  )
  return [values, set] as const
}
