// The manifest editor: a textarea with line numbers and syntax colours (a highlighted copy of
// the text drawn under a transparent textarea), client-side YAML/manifest checks as you type
// (durations with the server's grammar), and server errors pinned to the line of the field
// they name.

import { useEffect, useId, useMemo, useRef, useState } from 'react'
import { checkManifest, type Problem } from '../lib/yamlcheck'
import { tokenize } from '../lib/yamlhighlight'
import './yaml-editor.css'

interface Props {
  value: string
  onChange: (v: string) => void
  /** Problems from the server's last answer (they clear when the text changes). */
  serverProblems?: Problem[]
  readOnly?: boolean
  label?: string
  /** The local check; job manifests by default. */
  check?: (text: string) => Problem[]
}

export function YamlEditor({ value, onChange, serverProblems = [], readOnly, label = 'Manifest (YAML)', check = checkManifest }: Props) {
  const area = useRef<HTMLTextAreaElement>(null)
  const gutter = useRef<HTMLDivElement>(null)
  const shade = useRef<HTMLPreElement>(null)
  const [checked, setChecked] = useState<Problem[]>(() => check(value))
  const escaped = useRef(false)
  const id = useId()

  // Check after typing pauses.
  useEffect(() => {
    const t = setTimeout(() => setChecked(check(value)), 250)
    return () => clearTimeout(t)
  }, [value, check])

  const problems = useMemo(() => [...serverProblems, ...checked], [serverProblems, checked])
  const badLines = useMemo(() => {
    const m = new Map<number, string>()
    for (const p of problems) if (p.line) m.set(p.line, m.has(p.line) ? `${m.get(p.line)}\n${p.message}` : p.message)
    return m
  }, [problems])
  const lines = value.split('\n').length
  const colours = useMemo(() => tokenize(value), [value])

  const jump = (p: Problem) => {
    const ta = area.current
    if (!ta || !p.line) return
    const rows = value.split('\n')
    let offset = 0
    for (let i = 0; i < p.line - 1 && i < rows.length; i++) offset += rows[i].length + 1
    offset += Math.max(0, (p.col ?? 1) - 1)
    ta.focus()
    ta.setSelectionRange(offset, offset)
    const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 18
    ta.scrollTop = Math.max(0, (p.line - 3) * lineHeight)
  }

  return (
    <div className="yaml-editor">
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      <div className={`editor-frame ${problems.length ? 'invalid' : ''}`} style={{ height: `${Math.min(Math.max(lines + 2, 10), 28) * 20 + 18}px` }}>
        <div className="gutter" ref={gutter} aria-hidden="true">
          {Array.from({ length: lines }, (_, i) => (
            <div key={i} className={badLines.has(i + 1) ? 'bad' : undefined} title={badLines.get(i + 1)}>
              {i + 1}
            </div>
          ))}
        </div>
        <div className="code-wrap">
          <pre className="yaml-shade" ref={shade} aria-hidden="true">
            {colours.map((line, i) => (
              <div key={i} className={badLines.has(i + 1) ? 'bad' : undefined}>
                {line.map((t, j) =>
                  t.kind === 'plain' ? (
                    t.text
                  ) : (
                    <span key={j} className={`tk-${t.kind}`}>
                      {t.text}
                    </span>
                  ),
                )}
              </div>
            ))}
          </pre>
          <textarea
            id={id}
            ref={area}
            value={value}
            readOnly={readOnly}
            spellCheck={false}
            autoCapitalize="off"
            autoCorrect="off"
            wrap="off"
            aria-invalid={problems.length > 0}
            aria-describedby={`${id}-problems ${id}-hint`}
            onScroll={(e) => {
              if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop
              if (shade.current) {
                shade.current.scrollTop = e.currentTarget.scrollTop
                shade.current.scrollLeft = e.currentTarget.scrollLeft
              }
            }}
            onChange={(e) => onChange(e.target.value)}
            onKeyDown={(e) => {
              // Tab indents; Escape then Tab leaves the editor (keyboard users are never trapped).
              if (e.key === 'Escape') {
                escaped.current = true
                return
              }
              if (e.key === 'Tab' && !e.shiftKey && !escaped.current && !readOnly) {
                e.preventDefault()
                const ta = e.currentTarget
                const { selectionStart: s, selectionEnd: end } = ta
                const next = value.slice(0, s) + '  ' + value.slice(end)
                onChange(next)
                requestAnimationFrame(() => ta.setSelectionRange(s + 2, s + 2))
              }
              escaped.current = false
            }}
          />
        </div>
      </div>
      {!readOnly && (
        <p id={`${id}-hint`} className="hint muted">
          Tab indents two spaces; press Escape then Tab to move on.
        </p>
      )}
      <ul id={`${id}-problems`} className="problems" aria-live="polite">
        {problems.map((p, i) => (
          <li key={i} className={p.source === 'server' ? 'server' : undefined} data-field={p.field}>
            {p.line ? (
              <button type="button" className="linkish" onClick={() => jump(p)}>
                line {p.line}
                {p.col ? `:${p.col}` : ''}
              </button>
            ) : null}
            {p.field && <code className="field">{p.field}</code>}
            <span>{p.message}</span>
            {p.source === 'server' && <span className="muted"> (server)</span>}
          </li>
        ))}
      </ul>
    </div>
  )
}
