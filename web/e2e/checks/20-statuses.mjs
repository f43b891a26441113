// Statuses that tell the truth (issue 17): an execution whose script timed out is red with
// "timed out after 2s" (not a green "completed"), the machines still awaited are named, the
// list has a Target and an Outcome column, and a plain run never probes /rollout. Turning on
// two-factor sign-in shows ten recovery codes once; each signs in once.

import crypto from 'node:crypto'

/** The current RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret. */
function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)))
  const mac = crypto.createHmac('sha1', key).update(counter).digest()
  const off = mac[mac.length - 1] & 15
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, '0')
}

export async function run(ctx) {
  const { page, base, admin, adminToken, check, shot, assert, waitFor, AGENT_ID, T } = ctx
  await ctx.signIn(adminToken)

  const job = async (yaml) => {
    const r = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' },
      body: yaml,
    })
    assert(r.ok, `create job: ${r.status} ${await r.text()}`)
  }
  const fire = async (jobId, pcs) => {
    const r = await admin('POST', `/api/exec/${jobId}`, { target: { pcs }, allow_unknown: true })
    assert(r.status === 202, `exec ${jobId}: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body.exec_id
  }
  const settled = async (id, done) => {
    let last = null
    await waitFor(`execution ${id}`, T, async () => {
      last = (await admin('GET', `/api/executions/${id}`)).body
      return done(last)
    })
    return last
  }

  let slowId = ''
  await check('a timed-out run is red and says "timed out after 2s"; the awaited machine is named; no /rollout probe', async () => {
    await job('id: st-slow\nversion: 1\nexecute:\n  shell: sh\n  script: sleep 30\n  timeout: 2s\n')
    await job('id: st-fail\nversion: 1\nexecute:\n  shell: sh\n  script: echo broken >&2; exit 3\n  timeout: 10s\n')
    await job('id: st-ok\nversion: 1\nexecute:\n  shell: sh\n  script: echo fine\n  timeout: 10s\n')
    const okId = await fire('st-ok', [AGENT_ID])
    const failId = await fire('st-fail', [AGENT_ID])
    slowId = await fire('st-slow', [AGENT_ID, 'st-ghost-pc'])
    await settled(okId, (e) => e.worst === 'ok')
    await settled(failId, (e) => e.worst === 'failed')
    const slow = await settled(slowId, (e) => e.outcomes?.timed_out === 1)
    assert(JSON.stringify(slow.waiting_for) === JSON.stringify(['st-ghost-pc']), `waiting_for: ${JSON.stringify(slow.waiting_for)}`)
    assert(slow.rollout === false, 'a plain exec is no rollout')

    const probes = []
    const onRequest = (req) => {
      if (req.url().includes('/rollout')) probes.push(req.url())
    }
    page.on('request', onRequest)
    await page.goto(`${base}/executions/${slowId}`)
    await page.getByTestId('outcome-counts').filter({ hasText: '1 timed out' }).waitFor()
    await page.getByText('timed out after 2s').first().waitFor()
    await page.getByTestId('waiting-for').filter({ hasText: 'st-ghost-pc' }).waitFor()
    const badge = page.getByTestId('execution-badge').first()
    assert((await badge.getAttribute('data-worst')) === 'timed_out', 'the badge is coloured by the timeout')
    const tone = await page.locator('.badge').filter({ has: badge }).getAttribute('class')
    assert(tone.includes('bad'), `badge tone: ${tone}`)
    const text = (await page.locator('main, .page').first().textContent()) ?? ''
    assert(text.includes(`${AGENT_ID}, st-ghost-pc`), 'the overview shows the targets')
    await shot(page, '20-execution-mixed')
    page.off('request', onRequest)
    assert(probes.length === 0, `no /rollout probe for a plain run: ${probes.join(', ')}`)
  })

  await check('the executions list colours by the worst outcome and has Target and Outcome columns', async () => {
    await page.goto(`${base}/executions`)
    const row = (jobId) => page.getByRole('row').filter({ has: page.getByRole('link', { name: jobId, exact: true }) }).first()
    await row('st-slow').waitFor()
    const slowRow = (await row('st-slow').textContent()) ?? ''
    assert(slowRow.includes('1 timed out') && slowRow.includes('st-ghost-pc'), `slow row: ${slowRow}`)
    const worst = async (jobId) => row(jobId).getByTestId('execution-badge').getAttribute('data-worst')
    assert((await worst('st-fail')) === 'failed', 'the failed run is marked failed')
    assert((await worst('st-ok')) === 'ok', 'the good run is ok')
    const failTone = await row('st-fail').locator('.badge').first().getAttribute('class')
    assert(failTone.includes('bad') && !failTone.includes('ok'), `a completed run with a failure is not green: ${failTone}`)
    await shot(page, '20-executions-list')
  })

  await check('turning on two-factor sign-in shows ten recovery codes once; each signs in once', async () => {
    const { apiAs, apiLogin } = ctx
    const made = await admin('POST', '/api/accounts', { username: 'rcuser', password: 'rcuser-first-password-1', role: 'viewer' })
    assert(made.status === 201, `create: ${made.status}`)
    const first = apiAs(await apiLogin('rcuser', 'rcuser-first-password-1'))
    const changed = await first('POST', '/api/auth/change-password', { current_password: 'rcuser-first-password-1', new_password: 'rcuser-second-password-1' })
    assert(changed.status === 204, `change password: ${changed.status}`)
    await ctx.signIn(await apiLogin('rcuser', 'rcuser-second-password-1'))
    await page.goto(`${base}/account`)
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
    const secret = (await page.locator('code.break').textContent()).trim()
    await page.getByLabel('Code').fill(totp(secret))
    await page.getByRole('button', { name: 'Turn on' }).click()
    const box = page.getByTestId('recovery-codes')
    await box.waitFor()
    const codes = ((await box.locator('pre').textContent()) ?? '').split('\n').filter(Boolean)
    assert(codes.length === 10, `ten codes: ${codes.length}`)
    await shot(page, '20-recovery-codes')
    const login = async (code) => {
      const r = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'rcuser', password: 'rcuser-second-password-1', totp: code }),
      })
      return r.status
    }
    assert((await login(codes[0])) === 200, 'a recovery code signs in')
    assert((await login(codes[0])) === 401, 'a used recovery code fails the second time')
    await page.reload()
    assert((await page.getByTestId('recovery-codes').count()) === 0, 'the codes are not shown again')
    await ctx.signIn(adminToken)
  })
}
