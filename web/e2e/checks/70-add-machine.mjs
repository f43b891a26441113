// "Add a machine" on Machine access (issue 16): an admin makes the one-line agent installer for a
// group and copies it; the line carries the script that downloads this backend's published agent
// (the URL, its SHA-256) and enrolls with a fresh single-use token for that group. Without a
// published release the form says what to do. A viewer does not get the form, and the API
// refuses them.

import crypto from 'node:crypto'
import os from 'node:os'

export async function run(ctx) {
  const { page, base, admin, adminToken, apiAs, apiLogin, check, shot, assert, waitFor } = ctx
  await ctx.signIn(adminToken)
  const arch = { x64: 'x86_64', arm64: 'aarch64' }[os.arch()] ?? os.arch()
  const platform = `linux-${arch}`
  const version = '0.0.70-e2e'
  const binary = Buffer.from('#!/bin/sh\necho an agent for the add-a-machine check\n')
  const sha256 = crypto.createHash('sha256').update(binary).digest('hex')
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: 'Add a machine' }) })

  await check('without a published agent for this platform, Add a machine says to publish one', async () => {
    const releases = await admin('GET', '/api/agent-releases')
    assert(releases.status === 200, `list releases: ${releases.status}`)
    if (releases.body.some((r) => r.platform === platform)) {
      ctx.log(`a ${platform} release is already published; skipping the no-release message`)
      return
    }
    await page.goto(`${base}/machines`)
    await card.waitFor()
    await card.getByRole('button', { name: 'Make install command' }).click()
    await card.getByText(`no agent release for ${platform} is published`).waitFor()
  })

  let key = ''
  await check('an admin makes the install command for a group and copies it', async () => {
    const published = await fetch(`${base}/api/agent-releases?version=${version}&platform=${platform}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/octet-stream' },
      body: binary,
    })
    const release = await published.text()
    assert(published.ok, `publish ${version}: ${published.status} ${release}`)
    key = JSON.parse(release).key
    assert(key === `${version}-${platform}`, `release key: ${key}`)

    await page.goto(`${base}/machines`)
    await card.waitFor()
    await card.getByLabel('Machine joins group').fill('e2e-newcomers')
    await card.getByRole('button', { name: 'Make install command' }).click()
    const shown = card.getByTestId('install-command')
    await shown.waitFor()
    const command = ((await card.getByTestId('install-command-text').textContent()) ?? '').trim()
    const m = /^echo '([A-Za-z0-9+/=]+)' \| base64 -d \| sh$/.exec(command)
    assert(m, `one line that pipes the script to sh: ${command.slice(0, 80)}…`)
    const script = Buffer.from(m[1], 'base64').toString('utf8')
    const url = `${base}/api/agent-releases/${key}/binary`
    assert(script.includes(`URL='${url}'`), `the script downloads ${url}`)
    assert(script.includes(`SHA256='${sha256}'`), 'the script checks the published SHA-256')
    const token = /enrollment_token = "([^"]+)"/.exec(script)?.[1] ?? ''
    assert(token.startsWith('kanade'), `the script carries an enrollment token: ${token.slice(0, 12)}`)
    assert(/nats_url = "\S+"/.test(script) && script.includes('BEGIN CERTIFICATE'), 'the script sets the broker URL and its CA')
    const summary = (await shown.textContent()) ?? ''
    assert(summary.includes(key) && summary.includes(sha256.slice(0, 16)), `the card names the release and hash: ${summary}`)

    // The token it made: one machine, for the group picked.
    const tokens = await admin('GET', '/api/enrollment/tokens')
    const row = tokens.body.find((t) => summary.includes(`token ${t.id}`))
    assert(row, `the token named on the card is listed: ${summary}`)
    assert(row.group === 'e2e-newcomers' && row.uses_total === 1 && row.uses_left === 1, `token row: ${JSON.stringify(row)}`)

    // The binary behind the URL is the published one (no sign-in needed for it).
    const got = Buffer.from(await (await fetch(url)).arrayBuffer())
    assert(crypto.createHash('sha256').update(got).digest('hex') === sha256, 'the download matches the SHA-256 in the command')

    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
    await card.getByRole('button', { name: 'Copy' }).click()
    await card.getByRole('button', { name: 'Copied' }).waitFor()
    const copied = await page.evaluate(() => navigator.clipboard.readText())
    assert(copied === command, 'the clipboard holds the whole command')
    await shot(page, '70-add-machine')
    await card.getByRole('button', { name: 'Done' }).click()
    await card.getByRole('button', { name: 'Make install command' }).waitFor()
  })

  await check('a viewer gets no Add a machine, and the API refuses them the command', async () => {
    const made = await admin('POST', '/api/accounts', { username: 'addviewer', password: 'addviewer-first-password-1', role: 'viewer' })
    assert(made.status === 201, `create viewer: ${made.status} ${JSON.stringify(made.body)}`)
    const first = apiAs(await apiLogin('addviewer', 'addviewer-first-password-1'))
    const changed = await first('POST', '/api/auth/change-password', { current_password: 'addviewer-first-password-1', new_password: 'addviewer-second-password-1' })
    assert(changed.status === 204, `change password: ${changed.status}`)
    const token = await apiLogin('addviewer', 'addviewer-second-password-1')
    const refused = await apiAs(token)('POST', '/api/enrollment/install-command', { group: 'e2e-newcomers' })
    assert(refused.status === 403, `viewer install-command: ${refused.status}`)
    await ctx.signIn(token)
    await page.goto(`${base}/machines`)
    await page.getByRole('heading', { name: 'Machine access', level: 1 }).waitFor()
    await page.getByText('Only operators and admins see which machines the broker lets in.').waitFor()
    assert((await page.getByRole('heading', { name: 'Add a machine' }).count()) === 0, 'no Add a machine for a viewer')
    assert((await page.getByRole('button', { name: 'Make install command' }).count()) === 0, 'no install-command button for a viewer')
    await shot(page, '70-add-machine-viewer')
  })

  await ctx.signIn(adminToken)
  if (key) {
    const removed = await admin('DELETE', `/api/agent-releases/${key}`)
    assert(removed.status < 300, `delete release ${key}: ${removed.status}`)
    await waitFor('the release gone', 10_000, async () => !(await admin('GET', '/api/agent-releases')).body.some((r) => r.key === key))
  }
}
