// A small YAML tokenizer for the editor's colouring: one line at a time, no state across
// lines (block scalars are the exception: their lines are plain text). It only colours: the
// parser in yamlcheck has the last word on what the text means.

export type TokenKind = 'key' | 'string' | 'number' | 'bool' | 'comment' | 'punct' | 'anchor' | 'plain'

export interface Token {
  kind: TokenKind
  text: string
}

const SCALAR_WORD = /^(true|false|yes|no|on|off|null|~)$/i
const NUMBER = /^[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|\.inf|\.nan)$/

function scalarKind(text: string): TokenKind {
  const t = text.trim()
  if (SCALAR_WORD.test(t)) return 'bool'
  if (NUMBER.test(t)) return 'number'
  return 'plain'
}

/** Splits a value (after `key:` or `- `) into tokens: quoted strings, flow punctuation,
 * comments, scalars. */
function valueTokens(s: string, out: Token[]) {
  let i = 0
  let word = ''
  const flush = () => {
    if (!word) return
    // A key inside a flow mapping: `{at: '03:00'}`.
    const m = /^(\s*)([^\s:][^:]*?)(:)(\s|$)/.exec(word)
    if (m && !/^\s*['"]/.test(word)) {
      if (m[1]) out.push({ kind: 'plain', text: m[1] })
      out.push({ kind: 'key', text: m[2] }, { kind: 'punct', text: ':' })
      const rest = word.slice(m[1].length + m[2].length + 1)
      if (rest) out.push({ kind: scalarKind(rest), text: rest })
    } else out.push({ kind: scalarKind(word), text: word })
    word = ''
  }
  while (i < s.length) {
    const c = s[i]
    if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) {
      flush()
      out.push({ kind: 'comment', text: s.slice(i) })
      return
    }
    if ((c === '"' || c === "'") && (word.trim() === '' || /:\s+$/.test(word))) {
      flush()
      let j = i + 1
      while (j < s.length) {
        if (c === '"' && s[j] === '\\') j += 2
        else if (s[j] === c) {
          if (c === "'" && s[j + 1] === "'") j += 2
          else break
        } else j++
      }
      out.push({ kind: 'string', text: s.slice(i, j + 1) })
      i = j + 1
      continue
    }
    if ('{}[],'.includes(c)) {
      flush()
      out.push({ kind: 'punct', text: c })
      i++
      continue
    }
    if ((c === '&' || c === '*') && word.trim() === '') {
      flush()
      const m = /^[&*][^\s,{}[\]]+/.exec(s.slice(i))
      if (m) {
        out.push({ kind: 'anchor', text: m[0] })
        i += m[0].length
        continue
      }
    }
    word += c
    i++
  }
  flush()
}

/** One line's tokens; `block` says the line is inside a block scalar (`|`, `>`) whose
 * content is indented deeper than `indent`. Returns the state for the next line. */
export function tokenizeLine(line: string, block: number | null): { tokens: Token[]; block: number | null } {
  const tokens: Token[] = []
  const indent = /^\s*/.exec(line)![0].length
  if (block !== null) {
    if (line.trim() === '' || indent > block) return { tokens: [{ kind: 'string', text: line }], block }
    block = null
  }
  let rest = line
  const lead = /^(\s*)((?:-\s+)*)/.exec(rest)!
  if (lead[1]) tokens.push({ kind: 'plain', text: lead[1] })
  if (lead[2]) tokens.push({ kind: 'punct', text: lead[2] })
  rest = rest.slice(lead[0].length)
  if (rest.startsWith('#')) {
    tokens.push({ kind: 'comment', text: rest })
    return { tokens, block }
  }
  if (/^(---|\.\.\.)\s*$/.test(rest)) {
    tokens.push({ kind: 'punct', text: rest })
    return { tokens, block }
  }
  // `key:` (plain or quoted) then a value.
  const key = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]},:][^#:]*?|[^\s#{[]*?)(\s*)(:)(?=\s|$)/.exec(rest)
  if (key && key[1] !== '') {
    tokens.push({ kind: 'key', text: key[1] })
    if (key[2]) tokens.push({ kind: 'plain', text: key[2] })
    tokens.push({ kind: 'punct', text: ':' })
    rest = rest.slice(key[0].length)
  }
  if (/^\s*[|>][-+0-9]*\s*(#.*)?$/.test(rest)) {
    const m = /^(\s*)([|>][-+0-9]*)(\s*)(#.*)?$/.exec(rest)!
    if (m[1]) tokens.push({ kind: 'plain', text: m[1] })
    tokens.push({ kind: 'punct', text: m[2] })
    if (m[3]) tokens.push({ kind: 'plain', text: m[3] })
    if (m[4]) tokens.push({ kind: 'comment', text: m[4] })
    return { tokens, block: indent + (lead[2] ? lead[2].length : 0) }
  }
  valueTokens(rest, tokens)
  return { tokens, block }
}

/** Every line's tokens; joined, each line's texts give the line back unchanged. */
export function tokenize(text: string): Token[][] {
  let block: number | null = null
  return text.split('\n').map((line) => {
    const r = tokenizeLine(line, block)
    block = r.block
    return r.tokens
  })
}
