// Past terminal sessions and live lines on the result page (issue 15): a terminal opened and
// closed on the machine page is listed on "Terminal sessions" (reached from the machine page)
// with its transcript, replayed and as plain text; a viewer is refused the list; and the
// result page of a run still in flight appends its lines live, then shows the final result.

export async function run(ctx) {
  const { page, base, admin, adminToken, apiAs, apiLogin, check, shot, assert, waitFor, fireOnAgent, AGENT_ID, T } = ctx
  await ctx.signIn(adminToken)

  let sessionId = ''
  await check('a closed terminal session is listed on the Terminal sessions page with its transcript', async () => {
    await page.goto(`${base}/agents/${AGENT_ID}`)
    await page.getByRole('button', { name: 'Open terminal' }).click()
    const status = page.getByTestId('terminal-status').filter({ hasText: 'Session ' })
    await status.waitFor()
    sessionId = ((await status.textContent()) ?? '').replace('Session ', '').trim()
    assert(/^[0-9a-f]{32}$/.test(sessionId), `session id: ${sessionId}`)
    await page.getByTestId('terminal').click()
    await page.keyboard.type("echo past''-session-$((20+3))\n")
    await page.getByTestId('terminal').filter({ hasText: 'past-session-23' }).waitFor()
    await page.getByRole('button', { name: 'Close' }).click()
    await page.getByTestId('terminal-status').filter({ hasText: 'Ended' }).waitFor()
    await waitFor('the session recorded with its transcript', T, async () => {
      const listed = await admin('GET', `/api/terminal-sessions?pc_id=${AGENT_ID}`)
      return listed.status === 200 && listed.body.some((s) => s.session_id === sessionId && s.has_transcript)
    })

    // From the machine page to its sessions.
    await page.getByTestId('terminal-sessions-link').click()
    await page.getByRole('heading', { name: 'Terminal sessions' }).waitFor()
    assert(page.url().includes(`pc=${encodeURIComponent(AGENT_ID)}`), `narrowed to the machine: ${page.url()}`)
    const row = page.getByRole('row').filter({ has: page.getByTestId(`transcript-${sessionId}`) })
    await row.waitFor()
    const text = (await row.textContent()) ?? ''
    assert(text.includes('admin') && text.includes('client closed'), `the row says who and why it ended: ${text}`)
    await page.getByTestId(`transcript-${sessionId}`).click()
    await page.getByTestId('transcript-replay').filter({ hasText: 'past-session-23' }).waitFor()
    await shot(page, '40-terminal-sessions')
    await page.getByRole('button', { name: 'Plain text' }).click()
    await page.getByTestId('transcript-text').filter({ hasText: 'past-session-23' }).waitFor()
    const plain = (await page.getByTestId('transcript-text').textContent()) ?? ''
    assert(!plain.includes('\u001b['), 'no escape sequences in the plain text')
    await shot(page, '40-terminal-transcript-text')
  })

  await check('the nav offers Terminal sessions to admins only, and the API refuses viewers and operators', async () => {
    await page.goto(`${base}/`)
    await page.getByRole('link', { name: 'Terminal sessions' }).first().waitFor()
    for (const [name, role] of [
      ['tsviewer', 'viewer'],
      ['tsoperator', 'operator'],
    ]) {
      const made = await admin('POST', '/api/accounts', { username: name, password: `${name}-first-password-1`, role })
      assert(made.status === 201, `create ${role}: ${made.status} ${JSON.stringify(made.body)}`)
      const first = apiAs(await apiLogin(name, `${name}-first-password-1`))
      const changed = await first('POST', '/api/auth/change-password', { current_password: `${name}-first-password-1`, new_password: `${name}-second-password-1` })
      assert(changed.status === 204, `change password: ${changed.status}`)
      const token = await apiLogin(name, `${name}-second-password-1`)
      const as = apiAs(token)
      const list = await as('GET', `/api/terminal-sessions?pc_id=${AGENT_ID}`)
      assert(list.status === 403, `${role} lists sessions: ${list.status}`)
      const read = await as('GET', `/api/terminal-sessions/${sessionId}/transcript`)
      assert(read.status === 403, `${role} reads a transcript: ${read.status}`)
      if (role === 'viewer') {
        await ctx.signIn(token)
        await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
        assert((await page.getByRole('link', { name: 'Terminal sessions' }).count()) === 0, 'a viewer has no Terminal sessions link')
      }
    }
    await ctx.signIn(adminToken)
  })

  await check('under terminal: consent the Terminal card says it waits for the user and shows the refusal', async () => {
    // The e2e machine has nobody signed in (or nobody answers within 2 s): refused either way.
    const scope = `pcs.${AGENT_ID}`
    const set = await admin('PATCH', `/api/config/${scope}`, { terminal: 'consent', terminal_consent_timeout: '2s' })
    assert(set.status === 200, `set consent: ${set.status} ${JSON.stringify(set.body)}`)
    try {
      await page.goto(`${base}/agents/${AGENT_ID}`)
      await page.getByRole('button', { name: 'Open terminal' }).click()
      await page.getByTestId('terminal-status').filter({ hasText: 'Refused: ' }).waitFor({ timeout: T })
      const said = (await page.getByTestId('terminal-status').textContent()) ?? ''
      assert(/nobody is signed in|no answer in 2 s/.test(said), `the reason is shown: ${said}`)
      // xterm.js paints only while the terminal is on screen: bring it into view, as a user
      // reading it would (content loading above the card can push it out after the click).
      await page.getByTestId('terminal').scrollIntoViewIfNeeded()
      await page.getByTestId('terminal').filter({ hasText: 'waiting for the user' }).waitFor()
      await shot(page, '40-terminal-consent-refused')
      await waitFor('the refusal in the audit log', T, async () => {
        const audit = await admin('GET', '/api/audit?action=terminal_refused')
        return audit.status === 200 && audit.body.items.some((e) => e.target === AGENT_ID)
      })
    } finally {
      await admin('PATCH', `/api/config/${scope}`, { terminal: null, terminal_consent_timeout: null })
    }
  })

  await check('the result page of a run in flight appends its lines live, then shows the final result', async () => {
    const execId = await fireOnAgent('e2e-result-ticker', 'id: e2e-result-ticker\nversion: 1\nexecute:\n  shell: sh\n  script: for i in $(seq 1 40); do echo result-tick-$i; sleep 0.25; done; echo result-done\n  timeout: 60s\n')
    let resultId = ''
    await waitFor('the in-flight result row', T, async () => {
      const e = await admin('GET', `/api/executions/${execId}`)
      resultId = e.body?.results?.find((r) => r.pc_id === AGENT_ID)?.result_id ?? ''
      return resultId !== ''
    })
    await page.goto(`${base}/results/${resultId}`)
    // Whichever tick comes first after the page opened: the row exists only once the agent
    // announced the run (after 1 s), and live lines are not replayed to a late watcher.
    await page.getByTestId('live-output').filter({ hasText: /result-tick-\d+/ }).waitFor()
    const now = await admin('GET', `/api/results/${resultId}`)
    assert(now.body.finished_at === null, 'the lines were seen before the run finished')
    await shot(page, '40-result-live')
    // The final result replaces the live lines once it is recorded.
    await page.getByTestId('stdout').filter({ hasText: 'result-done' }).waitFor({ timeout: T })
    const stdout = (await page.getByTestId('stdout').textContent()) ?? ''
    assert(stdout.includes('result-tick-1\n') && stdout.includes('result-tick-40'), 'the whole output is in the final result')
    await shot(page, '40-result-final')
  })
}
