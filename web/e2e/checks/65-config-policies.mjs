// The Config page edits the terminal and command-signature policies (choices, not free text),
// the consent wait (a duration checked as it is typed) and the idle timeout (whose range the
// server checks: its refusal shows at the field), and what it saves is what the API holds;
// unsetting them again leaves the scope as it was.

export async function run(ctx) {
  const { page, base, admin, adminToken, check, shot, assert, waitFor } = ctx
  await ctx.signIn(adminToken)

  await check('the Config page sets the terminal policy and its consent wait as choices and a checked duration', async () => {
    const before = (await admin('GET', '/api/config/global')).body ?? {}
    await page.goto(`${base}/config`)
    await page.getByRole('heading', { name: 'Settings of global' }).waitFor()
    const field = (name) => page.getByLabel(name, { exact: true })
    const errorAt = (name) => page.locator(`tr[data-field="${name}"] .field-error`)
    await field('terminal').selectOption('consent')
    await field('terminal_consent_timeout').fill('a while')
    await errorAt('terminal_consent_timeout').waitFor()
    await field('terminal_consent_timeout').fill('45s')
    await waitFor('the fixed wait to drop its error', 10_000, async () => (await errorAt('terminal_consent_timeout').count()) === 0)
    await field('terminal_idle_timeout').fill('25h')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await errorAt('terminal_idle_timeout').filter({ hasText: 'between 1s and 24h' }).waitFor()
    const refused = (await admin('GET', '/api/config/global')).body ?? {}
    assert(JSON.stringify(refused) === JSON.stringify(before), `nothing saved with a refused value: ${JSON.stringify(refused)}`)
    await field('terminal_idle_timeout').fill('10m')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved 3 changes to global.' }).waitFor()
    const stored = (await admin('GET', '/api/config/global')).body
    assert(
      stored.terminal === 'consent' && stored.terminal_consent_timeout === '45s' && stored.terminal_idle_timeout === '10m',
      `global scope: ${JSON.stringify(stored)}`,
    )
    await shot(page, '65-config-terminal-policy')
    await field('terminal').selectOption('')
    await page.getByRole('button', { name: 'Unset terminal_consent_timeout' }).click()
    await page.getByRole('button', { name: 'Unset terminal_idle_timeout' }).click()
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved 3 changes to global.' }).waitFor()
    const after = (await admin('GET', '/api/config/global')).body ?? {}
    assert(JSON.stringify(after) === JSON.stringify(before), `unset again: ${JSON.stringify(after)} (was ${JSON.stringify(before)})`)
  })
}
