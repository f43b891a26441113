// The authoring pages (issue 17, "a dashboard that explains"): the YAML editor colours the
// text and flags a bad duration as it is typed, the job page lists its runs, Config shows what
// an unset field falls back to, the schedule form stays in sync with the YAML and shows the
// next five fires, and the compliance page draws a check's trend.

const CHECK_JOB = `id: e2e-disk
version: 1
description: a compliance check for the trend
execute:
  shell: sh
  script: echo '{"status":"ok","detail":"plenty"}'
  timeout: 30s
check:
  name: e2e-disk
  label: E2E disk
`

export async function run(ctx) {
  const { page, base, admin, adminToken, check, shot, assert, waitFor, AGENT_ID, T } = ctx
  await ctx.signIn(adminToken)
  let execId = null

  await check('a check job runs once so the job page and the trend have something to show', async () => {
    const job = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' },
      body: CHECK_JOB,
    })
    assert(job.ok, `create the check job: ${job.status} ${await job.text()}`)
    const fired = await admin('POST', '/api/exec/e2e-disk', { target: { pcs: [AGENT_ID] } })
    assert(fired.status === 202, `exec e2e-disk: ${fired.status} ${JSON.stringify(fired.body)}`)
    execId = fired.body.exec_id
    await waitFor('the check result in the trend', T, async () => {
      const r = await admin('GET', '/api/compliance/e2e-disk/trend?days=7')
      return r.status === 200 && r.body.points.some((p) => p.ok === 1)
    })
  })

  await check('the job page shows its run history, colours the YAML and flags a bad duration as it is typed', async () => {
    await page.goto(`${base}/jobs/e2e-disk`)
    const runs = page.locator('.job-runs')
    await runs.getByRole('heading', { name: 'Run history' }).waitFor()
    await runs.locator(`a[href="/executions/${execId}"]`).waitFor({ timeout: T })
    await runs.locator('.badge', { hasText: /^ok$/ }).waitFor({ timeout: T })
    await runs.getByRole('cell', { name: 'admin' }).first().waitFor()
    // The editor colours keys and strings.
    await page.locator('.yaml-shade .tk-key', { hasText: 'execute' }).waitFor()
    assert((await page.locator('.yaml-shade .tk-comment, .yaml-shade .tk-string, .yaml-shade .tk-number').count()) > 0, 'no coloured values')
    const editor = page.getByLabel('Manifest (YAML)')
    const text = await editor.inputValue()
    await editor.fill(text.replace('timeout: 30s', 'timeout: 5 minuets'))
    await page.locator('.problems li', { hasText: 'is not a duration' }).waitFor()
    assert(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled(), 'a bad duration must not be saved')
    await editor.fill(text.replace('timeout: 30s', 'timeout: 4000days'))
    await page.locator('.problems li', { hasText: 'more than the maximum of 3650 days' }).waitFor()
    await page.locator('.yaml-shade > div.bad').first().waitFor()
    await shot(page, '60-job-runs-and-editor')
    await editor.fill(text)
    await page.locator('.problems li').first().waitFor({ state: 'detached' })
  })

  await check('Config shows what an unset field falls back to and checks a duration as it is typed', async () => {
    await page.goto(`${base}/config`)
    const hb = page.getByLabel('heartbeat_interval', { exact: true })
    await hb.waitFor()
    await waitFor('the built-in default in the placeholder', T, async () => (await hb.getAttribute('placeholder'))?.includes('30s (built-in default)'))
    const cpus = await page.getByLabel('max_local_concurrent', { exact: true }).getAttribute('placeholder')
    assert(cpus.includes("each machine's CPU count"), `max_local_concurrent placeholder: ${cpus}`)
    await hb.fill('10 minuets')
    await page.locator('tr[data-field="heartbeat_interval"] .field-error').waitFor()
    await hb.fill('4000days')
    await page.locator('tr[data-field="heartbeat_interval"] .field-error', { hasText: '3650 days' }).waitFor()
    await shot(page, '60-config-defaults')
    await hb.fill('')
    await page.locator('tr[data-field="heartbeat_interval"] .field-error').waitFor({ state: 'detached' })
  })

  await check('the schedule form and the YAML stay in sync and show the next five fires', async () => {
    await page.goto(`${base}/schedules/new`)
    const yaml = page.getByLabel('Schedule (YAML)')
    await yaml.waitFor()
    await page.getByLabel('Id', { exact: true }).fill('e2e-form')
    await page.getByLabel('Job', { exact: true }).fill('e2e-disk')
    await page.getByRole('radio', { name: 'Cron' }).click()
    await page.getByRole('button', { name: 'daily at 03:00' }).click()
    await page.getByLabel('every machine').uncheck()
    await page.getByLabel('Machines').fill(AGENT_ID)
    await page.getByLabel('Time zone').fill('UTC')
    await waitFor('the form written into the YAML', T, async () => {
      const t = await yaml.inputValue()
      return t.includes('id: e2e-form') && t.includes('job_id: e2e-disk') && t.includes('cron: "0 3 * * *"') && t.includes(`pcs: [${AGENT_ID}]`)
    })
    const fires = page.locator('.next-fires[data-settled="true"] ol.fires li')
    await waitFor('five fires', T, async () => (await fires.count()) === 5)
    assert((await fires.first().textContent()).includes('03:00'), `first fire: ${await fires.first().textContent()}`)
    // An edit of the YAML shows in the form.
    const t = await yaml.inputValue()
    await yaml.fill(t.replace('0 3 * * *', '30 4 * * *'))
    await waitFor('the form reads the YAML', T, async () => (await page.getByLabel('Cron expression').inputValue()) === '30 4 * * *')
    await waitFor('the fires follow', T, async () => (await fires.first().textContent())?.includes('04:30'))
    // A calendar with weekday toggles.
    await page.getByRole('radio', { name: 'Calendar' }).click()
    await page.getByRole('button', { name: 'weekdays', exact: true }).click()
    await waitFor('days in the YAML', T, async () => (await yaml.inputValue()).includes('days: [mon-fri]'))
    await page.getByRole('button', { name: 'wed', exact: true }).click()
    await waitFor('wednesday off', T, async () => (await yaml.inputValue()).includes('days: [mon, tue, thu, fri]'))
    await waitFor('five calendar fires', T, async () => (await fires.count()) === 5)
    await shot(page, '60-schedule-form')
    await page.getByRole('button', { name: 'Create schedule' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved e2e-form' }).waitFor()
    const saved = await admin('GET', '/api/schedules/e2e-form')
    assert(saved.status === 200 && saved.body.schedule.when.calendar.days.join() === 'mon,tue,thu,fri', `saved: ${JSON.stringify(saved.body)}`)
  })

  await check('the compliance page draws a check\u2019s daily trend', async () => {
    await page.goto(`${base}/compliance?check=e2e-disk`)
    const card = page.locator('.compliance-trend')
    await card.getByRole('heading', { name: 'Trend: E2E disk' }).waitFor()
    await card.getByText(/1 day with results/).waitFor({ timeout: T })
    await card.locator('canvas').first().waitFor()
    await shot(page, '60-compliance-trend')
    const bad = await admin('GET', '/api/compliance/e2e-disk/trend?days=0')
    assert(bad.status === 400 && bad.body.error.field === 'days', `days=0: ${JSON.stringify(bad)}`)
  })
}
