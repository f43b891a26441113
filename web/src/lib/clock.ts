// The current time as state, ticking while a page shows something that counts down.

import { useEffect, useState } from 'react'

/** `Date.now()`, updated every `everyMs` while `active`. */
export function useNow(everyMs = 1000, active = true): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (!active) return
    const t = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(t)
  }, [everyMs, active])
  return now
}
