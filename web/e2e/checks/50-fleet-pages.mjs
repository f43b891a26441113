// The fleet pages (issue 17, "a dashboard that explains"): inventory facts shown through the
// job's display hints (sizes, numbers, nested tables) with a picker of only the jobs that
// collect facts; saved searches an operator saves and a viewer opens; the agent list's
// addresses, uptime and load with bulk actions (ping, add to group, run a job); and a group
// created on the Groups page from picked machines or a search.

const FACTS_JOB = 'e2e-volumes'
const PLAIN_JOB = 'e2e-no-facts'
const facts = {
  hostname: 'e2e-box',
  mem_bytes: 1610612736,
  procs: 12345,
  volumes: [
    { letter: 'C', free: 5368709120, size: 107374182400 },
    { letter: 'D', free: 1073741824, size: 536870912000 },
  ],
}
const MANIFEST = `id: ${FACTS_JOB}
version: 1
execute:
  shell: sh
  script: |
    echo '${JSON.stringify(facts)}'
  timeout: 30s
inventory:
  display:
    - {field: hostname, label: Host}
    - {field: mem_bytes, label: Memory, type: bytes}
    - {field: procs, label: Processes, type: number}
    - field: volumes
      label: Volumes
      type: table
      columns: [{field: letter, label: Drive}, {field: free, label: Free, type: bytes}, {field: size, label: Size, type: bytes}]
  explode:
    - field: volumes
      table: inv_e2e_volumes
      primary_key: [letter]
      columns: [{field: letter, index: true}, {field: free, type: integer}, {field: size, type: integer}]
`
const PLAIN = `id: ${PLAIN_JOB}
version: 1
execute:
  shell: sh
  script: echo hi
  timeout: 30s
`

export async function run(ctx) {
  const { page, base, admin, adminToken, apiAs, apiLogin, check, shot, assert, waitFor, AGENT_ID, T } = ctx
  // Whatever these pages log as an error, beyond the failed requests provoked on purpose.
  const consoleErrors = []
  const onConsole = (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (400|401|403|404|422)/.test(m.text())) consoleErrors.push(m.text())
  }
  page.on('console', onConsole)
  page.on('pageerror', (e) => consoleErrors.push(String(e)))
  await ctx.signIn(adminToken)
  const post = async (yaml) => {
    const r = await fetch(`${base}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' }, body: yaml })
    assert(r.ok, `create job: ${r.status} ${await r.text()}`)
  }

  await check('fleet pages: inventory facts are tables with sizes and numbers, and the picker lists only jobs that collect facts', async () => {
    await post(MANIFEST)
    await post(PLAIN)
    const fired = await admin('POST', `/api/exec/${FACTS_JOB}`, { target: { pcs: [AGENT_ID] } })
    assert(fired.status < 300, `exec ${FACTS_JOB}: ${fired.status} ${JSON.stringify(fired.body)}`)
    await waitFor(`inventory of ${FACTS_JOB}`, 60_000, async () => {
      const f = await admin('GET', `/api/inventory/${FACTS_JOB}`)
      return f.body?.items?.[0]?.facts?.hostname === 'e2e-box'
    })
    await page.goto(`${base}/inventory`)
    await page.getByRole('heading', { name: 'Inventory', level: 1 }).waitFor()
    const picker = page.getByLabel('Job')
    await picker.locator(`option[value="${FACTS_JOB}"]`).waitFor({ state: 'attached' })
    assert((await picker.locator(`option[value="${PLAIN_JOB}"]`).count()) === 0, 'a job without an inventory hint is offered')
    await picker.selectOption(FACTS_JOB)
    const table = page.getByRole('table', { name: `Inventory of ${FACTS_JOB}` })
    for (const header of ['Host', 'Memory', 'Processes', 'Volumes']) await table.getByRole('columnheader', { name: header }).waitFor()
    await table.getByRole('cell', { name: '1.5 GiB' }).waitFor()
    await table.getByRole('cell', { name: '12,345' }).waitFor()
    await table.getByText('2 rows').click()
    const nested = table.getByRole('table', { name: 'Volumes' })
    await nested.getByRole('columnheader', { name: 'Free' }).waitFor()
    await nested.getByRole('cell', { name: '5.0 GiB' }).waitFor()
    await nested.getByRole('cell', { name: '500 GiB' }).waitFor()
    assert(!(await table.innerText()).includes('"letter"'), 'raw JSON is shown')
    await shot(page, '50-inventory-facts')
  })

  await check('fleet pages: an operator saves a search, shared; a viewer opens it and cannot save', async () => {
    await page.goto(`${base}/inventory?view=search&table=inv_e2e_volumes&where=free__gte%3D2000000000`)
    const rows = page.getByRole('table', { name: 'Rows of inv_e2e_volumes' })
    await rows.getByRole('cell', { name: 'C', exact: true }).waitFor()
    // The searched sizes show as sizes, named as the job displays them.
    await rows.getByRole('columnheader', { name: 'Free' }).waitFor()
    await rows.getByRole('cell', { name: '5.0 GiB' }).waitFor()
    await page.getByLabel('Name of the search').fill('Roomy volumes')
    await page.getByLabel('shared with everyone').check()
    await page.getByRole('button', { name: 'Save search' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved “Roomy volumes”' }).waitFor()
    const saved = page.getByRole('list', { name: 'Saved searches' })
    await saved.getByRole('button', { name: 'Roomy volumes', exact: true }).waitFor()
    await shot(page, '50-saved-searches')

    const made = await admin('POST', '/api/accounts', { username: 'fleet-viewer', password: 'fleet-viewer-first-1', role: 'viewer' })
    assert(made.status === 201, `create viewer: ${made.status} ${JSON.stringify(made.body)}`)
    const first = await apiLogin('fleet-viewer', 'fleet-viewer-first-1')
    const changed = await apiAs(first)('POST', '/api/auth/change-password', { current_password: 'fleet-viewer-first-1', new_password: 'fleet-viewer-second-2' })
    assert(changed.status < 300, `change password: ${changed.status} ${JSON.stringify(changed.body)}`)
    const viewerToken = await apiLogin('fleet-viewer', 'fleet-viewer-second-2')
    const refused = await apiAs(viewerToken)('POST', '/api/saved-searches', { name: 'mine', query: 'table=inv_e2e_volumes' })
    assert(refused.status === 403, `a viewer saved a search: ${refused.status}`)
    await ctx.signIn(viewerToken)
    await page.goto(`${base}/inventory?view=search`)
    await page.getByRole('list', { name: 'Saved searches' }).getByRole('button', { name: 'Roomy volumes', exact: true }).click()
    await page.getByRole('table', { name: 'Rows of inv_e2e_volumes' }).getByRole('cell', { name: 'C', exact: true }).waitFor()
    assert(/where=free__gte%3D2000000000/.test(page.url()), `the saved search did not open: ${page.url()}`)
    assert((await page.getByRole('button', { name: 'Save search' }).count()) === 0, 'a viewer is offered to save')
    assert((await page.getByRole('button', { name: /Delete saved search/ }).count()) === 0, 'a viewer is offered to delete')
    await shot(page, '50-saved-searches-viewer')
    await ctx.signIn(adminToken)
  })

  await check('fleet pages: the agent list shows uptime and load, and pings, groups and runs the selected machines', async () => {
    await page.goto(`${base}/agents`)
    const table = page.getByRole('table', { name: 'Agents' })
    for (const header of ['IP addresses', 'OS', 'Uptime', 'Load']) await table.getByRole('columnheader', { name: header, exact: true }).waitFor()
    const row = table.locator('tr', { has: page.getByRole('link', { name: AGENT_ID, exact: true }) })
    await waitFor('the agent reports its load', T, async () => /\d+\.\d\d \d+\.\d\d \d+\.\d\d/.test(await row.innerText()))
    const listed = await admin('GET', `/api/agents?q=${AGENT_ID}`)
    const agent = listed.body.items.find((a) => a.pc_id === AGENT_ID)
    assert(agent.uptime_secs > 0 && agent.load_avg.length === 3, `agent facts: ${JSON.stringify(agent)}`)

    await row.getByLabel(`Select ${AGENT_ID}`).check()
    const bar = page.getByRole('region', { name: 'Selected machines' })
    await bar.getByText('1 selected').waitFor()
    await bar.getByRole('button', { name: 'Ping' }).click()
    const pings = page.getByRole('dialog', { name: 'Ping 1 machine(s)' })
    await pings.getByText(/answered in \d+ ms/).waitFor({ timeout: T })
    await shot(page, '50-agents-bulk-ping')
    await pings.getByRole('button', { name: 'Done', exact: true }).click()

    await bar.getByRole('button', { name: 'Add to group…' }).click()
    const adding = page.getByRole('dialog', { name: 'Add 1 machine(s) to a group' })
    await adding.getByLabel('Group name').fill('bad name')
    await adding.getByRole('button', { name: 'Add', exact: true }).click()
    await adding.getByRole('alert').filter({ hasText: 'is not a group name' }).waitFor()
    await adding.getByLabel('Group name').fill('e2e-bulk')
    await adding.getByRole('button', { name: 'Add', exact: true }).click()
    await adding.getByRole('status').filter({ hasText: '1 added to e2e-bulk' }).waitFor()
    const groups = await admin('GET', `/api/agents/${AGENT_ID}/groups`)
    assert(groups.body.groups.includes('e2e-bulk'), `groups: ${JSON.stringify(groups.body)}`)
    await adding.getByRole('button', { name: 'Done', exact: true }).click()

    await bar.getByRole('button', { name: 'Run a job…' }).click()
    const pick = page.getByRole('dialog', { name: 'Run a job on 1 machine(s)' })
    await pick.getByLabel('Job to run').selectOption(PLAIN_JOB)
    await pick.getByRole('button', { name: 'Next', exact: true }).click()
    const run = page.getByRole('dialog', { name: `Run ${PLAIN_JOB}` })
    await run.getByText('1 picked.').waitFor()
    assert(await run.getByRole('checkbox', { name: AGENT_ID }).isChecked(), 'the selected machine is not picked')
    await shot(page, '50-agents-bulk-run')
    await run.getByRole('button', { name: /Run now|Run anyway/ }).click()
    await page.waitForURL(/\/executions\//, { timeout: T })
    // The machine's own page lists the same facts.
    await page.goto(`${base}/agents/${AGENT_ID}`)
    const facts = page.locator('.card', { has: page.getByRole('heading', { name: 'Facts' }) })
    await facts.getByText('Load (1, 5, 15 min)').waitFor()
    await facts.getByText(/\d+\.\d\d \d+\.\d\d \d+\.\d\d/).waitFor()
  })

  await check('fleet pages: the Groups page creates a group from picked machines or from a search', async () => {
    await page.goto(`${base}/groups`)
    await page.getByRole('button', { name: 'New group…' }).click()
    await page.getByLabel('New group name').fill('e2e-made')
    await page.getByLabel('Filter machines').fill(AGENT_ID)
    await page.getByRole('group', { name: 'Machines' }).getByRole('checkbox', { name: AGENT_ID }).check()
    await page.getByRole('button', { name: 'Create with 1 machine(s)' }).click()
    await page.getByRole('status').filter({ hasText: '1 added to e2e-made' }).waitFor()
    await page.getByRole('table', { name: 'Groups' }).getByRole('link', { name: 'e2e-made', exact: true }).waitFor()
    await shot(page, '50-groups-new')
    await page.getByLabel('Every machine a search matches').check()
    await page.getByLabel('Search machines').fill(AGENT_ID)
    await page.getByText(`1 machine(s) match: ${AGENT_ID}`).waitFor()
    await page.getByRole('link', { name: 'see them in the agent list' }).waitFor()
    await page.getByRole('link', { name: 'derived group', exact: true }).waitFor()
    await shot(page, '50-groups-from-search')
    // Leave the agent as it was: out of the groups made here.
    for (const g of ['e2e-made', 'e2e-bulk']) {
      const r = await admin('DELETE', `/api/agents/${AGENT_ID}/groups/${g}`)
      assert(r.status < 300, `remove ${g}: ${r.status}`)
    }
    await waitFor('the agent back online', T, async () => (await admin('POST', `/api/agents/${AGENT_ID}/ping`)).body?.answered === true)
  })

  await check('fleet pages: nothing logged an error in the browser', async () => {
    page.off('console', onConsole)
    assert(consoleErrors.length === 0, `console errors:\n${consoleErrors.join('\n')}`)
  })
}
