// Picks a time range: 1 h, 24 h, 7 d, or custom from/to (local time inputs).

import { useState } from 'react'
import { presetRange, type RangePreset } from '../lib/series'

export type RangeChoice = { preset: RangePreset } | { from: string; to: string }

export function resolveRange(r: RangeChoice, now: number): { from: string; to: string } {
  return 'preset' in r ? presetRange(r.preset, now) : r
}

function toLocalInput(iso: string): string {
  const d = new Date(iso)
  const off = d.getTimezoneOffset() * 60_000
  return new Date(d.getTime() - off).toISOString().slice(0, 16)
}

export function RangePicker({ value, onChange }: { value: RangeChoice; onChange: (r: RangeChoice) => void }) {
  const [custom, setCustom] = useState(!('preset' in value))
  const [from, setFrom] = useState(() => toLocalInput(resolveRange(value, Date.now()).from))
  const [to, setTo] = useState(() => toLocalInput(resolveRange(value, Date.now()).to))
  const apply = () => {
    const f = new Date(from)
    const t = new Date(to)
    if (Number.isFinite(f.getTime()) && Number.isFinite(t.getTime()) && f < t) onChange({ from: f.toISOString(), to: t.toISOString() })
  }
  return (
    <div className="range-picker" role="group" aria-label="Time range">
      {(['1h', '24h', '7d'] as RangePreset[]).map((p) => (
        <button
          key={p}
          type="button"
          className={`btn small ${!custom && 'preset' in value && value.preset === p ? 'active' : ''}`}
          aria-pressed={!custom && 'preset' in value && value.preset === p}
          onClick={() => {
            setCustom(false)
            onChange({ preset: p })
          }}
        >
          {p}
        </button>
      ))}
      <button type="button" className={`btn small ${custom ? 'active' : ''}`} aria-pressed={custom} onClick={() => setCustom(true)}>
        custom
      </button>
      {custom && (
        <span className="custom-range">
          <input type="datetime-local" aria-label="From" value={from} onChange={(e) => setFrom(e.target.value)} />
          <span aria-hidden="true">→</span>
          <input type="datetime-local" aria-label="To" value={to} onChange={(e) => setTo(e.target.value)} />
          <button type="button" className="btn small primary" onClick={apply} disabled={!(from && to && new Date(from) < new Date(to))}>
            Apply
          </button>
        </span>
      )}
    </div>
  )
}
