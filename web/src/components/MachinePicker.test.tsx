import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { renderToStaticMarkup } from 'react-dom/server'
import { describe, expect, it } from 'vitest'
import type { AgentRow, Page } from '../api/types'
import { filterMachines, withAllShown, withPicked } from '../lib/picker'
import { MachinePicker } from './MachinePicker'

function agent(pc_id: string, hostname: string, ip_addresses: string[], online = true): AgentRow {
  return { pc_id, hostname, ip_addresses, online } as AgentRow
}

const FLEET = [agent('web-01', 'WEB-01.corp', ['10.0.0.11']), agent('web-02', 'web-02.corp', ['10.0.0.12'], false), agent('db-01', 'DB-PRIMARY', ['10.0.1.5', 'fe80::1'])]

const ids = (rows: AgentRow[]) => rows.map((a) => a.pc_id)

/** The picker as it first draws, with the fleet already fetched (no network). */
function render(picked: string[], fleet: AgentRow[] | null = FLEET): string {
  const qc = new QueryClient()
  if (fleet) qc.setQueryData<Page<AgentRow>>(['agents', 'picker'], { items: fleet } as Page<AgentRow>)
  return renderToStaticMarkup(
    <QueryClientProvider client={qc}>
      <MachinePicker picked={new Set(picked)} onChange={() => {}} />
    </QueryClientProvider>,
  )
}

describe('filterMachines', () => {
  it('keeps every machine while nothing is typed', () => {
    expect(ids(filterMachines(FLEET, ''))).toEqual(['web-01', 'web-02', 'db-01'])
    expect(ids(filterMachines(FLEET, '   '))).toEqual(['web-01', 'web-02', 'db-01'])
  })

  it('matches the typed text in the machine id, the host name or an address, ignoring case and spaces around it', () => {
    expect(ids(filterMachines(FLEET, 'web'))).toEqual(['web-01', 'web-02'])
    expect(ids(filterMachines(FLEET, ' WEB-01 '))).toEqual(['web-01'])
    expect(ids(filterMachines(FLEET, 'primary'))).toEqual(['db-01'])
    expect(ids(filterMachines(FLEET, '10.0.0.'))).toEqual(['web-01', 'web-02'])
    expect(ids(filterMachines(FLEET, 'FE80::'))).toEqual(['db-01'])
    expect(ids(filterMachines(FLEET, 'nothing-like-it'))).toEqual([])
  })

  it('copes with a machine that reported no addresses', () => {
    const bare = { pc_id: 'bare', hostname: 'bare-host', online: true } as AgentRow
    expect(ids(filterMachines([bare], '10.'))).toEqual([])
    expect(ids(filterMachines([bare], 'bare'))).toEqual(['bare'])
  })
})

describe('picking', () => {
  it('checks and unchecks one machine without touching the set it was given', () => {
    const before = new Set(['web-01'])
    const added = withPicked(before, 'db-01', true)
    expect([...added].sort()).toEqual(['db-01', 'web-01'])
    const removed = withPicked(added, 'web-01', false)
    expect([...removed]).toEqual(['db-01'])
    expect([...before]).toEqual(['web-01'])
    expect([...withPicked(before, 'web-01', true)]).toEqual(['web-01'])
    expect([...withPicked(before, 'db-01', false)]).toEqual(['web-01'])
  })

  it('"Pick all shown" adds the machines the filter shows and keeps those picked but hidden', () => {
    const shown = filterMachines(FLEET, 'web')
    expect([...withAllShown(new Set(['db-01']), shown)].sort()).toEqual(['db-01', 'web-01', 'web-02'])
    expect([...withAllShown(new Set(), [])]).toEqual([])
  })
})

describe('MachinePicker', () => {
  it('lists the fleet as labelled checkboxes, the picked ones checked, with the count and both actions', () => {
    const html = render(['web-02'])
    expect(html).toContain('aria-label="Filter machines"')
    expect(html).toContain('role="group" aria-label="Machines"')
    const boxes = [...html.matchAll(/<label class="check"><input type="checkbox"( checked="")?\/><span>([^<]+)<\/span>/g)].map((m) => [m[2], !!m[1]])
    expect(boxes).toEqual([
      ['web-01', false],
      ['web-02', true],
      ['db-01', false],
    ])
    expect(html).toContain('>1 picked. ')
    expect(html).toContain('>Pick all shown</button>')
    expect(html).toContain('>Clear</button>')
  })

  it('offers no Clear while nothing is picked', () => {
    const html = render([])
    expect(html).toContain('>0 picked. ')
    expect(html).toContain('>Pick all shown</button>')
    expect(html).not.toContain('>Clear</button>')
  })

  it('says so when the fleet is empty or still loading, and offers no "Pick all shown"', () => {
    const empty = render([], [])
    expect(empty).toContain('No machines.')
    expect(empty).not.toContain('>Pick all shown</button>')
    const loading = render([], null)
    expect(loading).toContain('Loading machines…')
    expect(loading).not.toContain('No machines.')
  })
})
