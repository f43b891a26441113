// A text input that reports its value only after typing pauses (for filters that query the
// API), while showing every keystroke at once.

import { useEffect, useRef, useState, type InputHTMLAttributes } from 'react'

export function Debounced({ value, onChange, ...rest }: { value: string; onChange: (v: string) => void } & Omit<InputHTMLAttributes<HTMLInputElement>, 'value' | 'onChange'>) {
  const [v, setV] = useState(value)
  const report = useRef(onChange)
  useEffect(() => {
    report.current = onChange
  }, [onChange])
  useEffect(() => setV(value), [value])
  useEffect(() => {
    if (v === value) return
    const t = setTimeout(() => report.current(v), 300)
    return () => clearTimeout(t)
  }, [v, value])
  return <input {...rest} value={v} onChange={(e) => setV(e.target.value)} />
}

