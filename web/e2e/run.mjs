// End-to-end test of the dashboard against a real system: nats-server, kanade-backend and
// kanade-agent started here on free loopback ports with temporary state, driven through
// headless Chromium (playwright-core + the system's chromium).
//
//   node e2e/run.mjs            (from web/, after `npm run build` and `cargo build --bins`)
//
// Environment: KANADE_BIN_DIR (default <repo>/target/debug), KANADE_NATS_SERVER (default
// <repo>/.tools/nats/bin/nats-server), CHROMIUM (default /usr/bin/chromium),
// E2E_KEEP=1 keeps the temporary folder. Screenshots go to web/test-results/screenshots/.
// Every process started here is stopped on exit, whatever happens.

import { execFileSync, spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ROOT = path.resolve(WEB, '..')
const BIN = process.env.KANADE_BIN_DIR ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug')
const NATS = process.env.KANADE_NATS_SERVER ?? path.join(ROOT, '.tools/nats/bin/nats-server')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const SHOTS = path.join(WEB, 'test-results/screenshots')
const ADMIN_PASSWORD = 'e2e-admin-password-1'
const AGENT_ID = 'e2e-agent'
// Generous: this runs on a busy 2-core machine.
const T = 30_000

const children = []
let tmp = null
let browserContext = null

function log(...args) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args)
}

async function freePort() {
  const srv = net.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

function start(name, cmd, args, env = {}) {
  const out = fs.openSync(path.join(tmp, `${name}.log`), 'a')
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out], detached: true })
  child.name = name
  child.exited = false
  child.on('exit', (code, signal) => {
    child.exited = true
    if (!stopping) log(`${name} exited (code ${code}, signal ${signal})`)
  })
  children.push(child)
  log(`started ${name} (pid ${child.pid})`)
  return child
}

let stopping = false
async function stopAll() {
  stopping = true
  if (browserContext) await browserContext.close().catch(() => {})
  // Reverse start order: agent, backend, broker.
  for (const child of [...children].reverse()) {
    if (child.exited) continue
    try {
      process.kill(-child.pid, 'SIGTERM')
    } catch {
      continue
    }
    const deadline = Date.now() + 5000
    while (!child.exited && Date.now() < deadline) await sleep(100)
    if (!child.exited) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  if (tmp && !process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true })
  else if (tmp) log(`kept ${tmp}`)
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

async function waitFor(what, limitMs, check) {
  const deadline = Date.now() + limitMs
  let last
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    for (const c of children) if (c.exited) throw new Error(`${c.name} exited while waiting for ${what}; see ${c.name}.log:\n${tail(c.name)}`)
    await sleep(200)
  }
  throw new Error(`timed out after ${limitMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ''}`)
}

function tail(name) {
  try {
    return fs.readFileSync(path.join(tmp, `${name}.log`), 'utf8').split('\n').slice(-25).join('\n')
  } catch {
    return ''
  }
}

const toml = (s) => JSON.stringify(s)

/** The current RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret. */
function totpNow(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)))
  const mac = createHmac('sha1', key).update(counter).digest()
  const offset = mac[mac.length - 1] & 0xf
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000
  return String(n).padStart(6, '0')
}

// ---- the checks ----

const results = []
let currentPage = null
// E2E_ONLY=NAME runs only the checks kept in web/e2e/checks/ whose file name contains NAME
// (each such file signs in on its own), skipping the walk-through below: quicker while working
// on one page.
const ONLY = process.env.E2E_ONLY ?? ''
let inChecksFile = false
async function check(name, fn) {
  if (ONLY && !inChecksFile) {
    log(`skip ${name} (E2E_ONLY=${ONLY})`)
    return
  }
  const t0 = Date.now()
  try {
    await fn()
    results.push({ name, ok: true })
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  } catch (err) {
    results.push({ name, ok: false, err })
    log(`FAIL ${name}: ${err.stack ?? err}`)
    if (currentPage) {
      const file = path.join(SHOTS, `FAILED-${results.length}.png`)
      await currentPage.screenshot({ path: file, fullPage: true }).catch(() => {})
      log(`page at failure: ${currentPage.url()} (screenshot ${path.relative(WEB, file)})`)
    }
    throw err
  }
}

/** Waits until nothing on the page is loading (the event stream keeps the network busy, so
 * "network idle" never comes). */
async function settle(page) {
  await page.waitForFunction(() => !document.body.innerText.includes('Loading…') && !document.querySelector('.spinner'), null, { timeout: T }).catch(() => {})
  await sleep(300)
}

async function shot(page, name, opts = {}) {
  await settle(page)
  // A full-page capture of a scrolled page draws the sticky top bar mid-page.
  if (opts.fullPage !== false) await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true, ...opts })
}

function assert(cond, message) {
  if (!cond) throw new Error(message)
}

async function main() {
  for (const [what, file] of [
    ['kanade-backend', path.join(BIN, 'kanade-backend')],
    ['kanade-agent', path.join(BIN, 'kanade-agent')],
    ['nats-server', NATS],
    ['chromium', CHROMIUM],
    ['the built dashboard (npm run build)', path.join(WEB, 'dist/index.html')],
  ]) {
    if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file}`)
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kanade-e2e-'))
  fs.rmSync(SHOTS, { recursive: true, force: true })
  fs.mkdirSync(SHOTS, { recursive: true })
  const [natsPort, monitorPort, httpPort] = [await freePort(), await freePort(), await freePort()]
  const base = `http://127.0.0.1:${httpPort}`
  const natsUrl = `tls://127.0.0.1:${natsPort}`
  // The broker speaks TLS only, as scripts/up sets it up; backend and agent pin its CA.
  const tlsDir = path.join(tmp, 'tls')
  execFileSync(path.join(BIN, 'kanade-backend'), ['tls-init', tlsDir], { stdio: 'ignore' })
  const caFile = path.join(tlsDir, 'ca.pem')

  // A fixed file-store limit: the default (75% of the free disk) can be smaller than what
  // kanade's streams reserve on a full disk, and this test is not about disk space.
  const natsConf = path.join(tmp, 'nats.conf')
  fs.writeFileSync(natsConf, 'jetstream {\n  max_file_store: 64GB\n}\n')
  start('nats', NATS, ['-c', natsConf, '-a', '127.0.0.1', '-p', String(natsPort), '-m', String(monitorPort), '-js', '-sd', path.join(tmp, 'nats'),
    '--tls', '--tlscert', path.join(tlsDir, 'server.pem'), '--tlskey', path.join(tlsDir, 'server-key.pem')])
  await waitFor('nats-server', T, async () => (await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`)).ok)

  fs.writeFileSync(
    path.join(tmp, 'backend.toml'),
    `[server]\nbind = ${toml(`127.0.0.1:${httpPort}`)}\npublic_url = ${toml(base)}\n\n[nats]\nurl = ${toml(natsUrl)}\nca_file = ${toml(caFile)}\n\n[db]\nsqlite_path = ${toml(path.join(tmp, 'backend/kanade.db'))}\n\n[log]\npath = ${toml(path.join(tmp, 'logs'))}\nlevel = "info"\nkeep_days = 1\n`,
  )
  start('backend', path.join(BIN, 'kanade-backend'), ['--config', path.join(tmp, 'backend.toml')], {
    KANADE_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    RUST_LOG: 'info',
    NO_COLOR: '1',
  })
  await waitFor('backend /health', 90_000, async () => (await fetch(`${base}/health`)).ok)
  const index = await (await fetch(`${base}/`)).text()
  assert(index.includes('<div id="root">'), `the backend does not serve the built dashboard at / (a debug build reads web/dist of the tree it was compiled in; rebuild it here):\n${index.slice(0, 300)}`)

  fs.writeFileSync(
    path.join(tmp, 'agent.toml'),
    `[agent]\nid = ${toml(AGENT_ID)}\nnats_url = ${toml(natsUrl)}\nnats_ca = ${toml(caFile)}\ndata_dir = ${toml(path.join(tmp, 'agent'))}\n\n[log]\npath = ${toml(path.join(tmp, 'logs'))}\nlevel = "info"\nkeep_days = 1\n`,
  )
  start('agent', path.join(BIN, 'kanade-agent'), ['--config', path.join(tmp, 'agent.toml')], { NO_COLOR: '1' })

  const apiLogin = async (username, password) => {
    const r = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
    const body = await r.text()
    assert(r.ok, `API login ${username}: ${r.status} ${body}`)
    return JSON.parse(body).token
  }
  const adminToken = await apiLogin('admin', ADMIN_PASSWORD)
  const apiAs = (token) => async (method, p, body) => {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    const text = await r.text()
    return { status: r.status, body: text ? JSON.parse(text) : null }
  }
  const admin = apiAs(adminToken)
  await waitFor('the agent online in GET /api/agents', 60_000, async () => {
    const r = await admin('GET', '/api/agents?online=true')
    return r.body?.items?.some((a) => a.pc_id === AGENT_ID)
  })
  log('system is up: broker, backend, agent')

  browserContext = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
    colorScheme: 'light',
  })
  browserContext.setDefaultTimeout(T)
  const page = browserContext.pages()[0] ?? (await browserContext.newPage())
  currentPage = page
  const consoleErrors = []
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(String(e)))

  await check('an anonymous visit lands on the sign-in page', async () => {
    await page.goto(`${base}/agents`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    assert(new URL(page.url()).pathname === '/login', `expected /login, got ${page.url()}`)
    await shot(page, '01-login')
  })

  await check('a wrong password is refused with the server message', async () => {
    await page.getByLabel('User name').fill('admin')
    await page.getByLabel('Password').fill('not-the-password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor()
  })

  await check('admin signs in and sees the dashboard, and comes back to the page asked for', async () => {
    await page.getByLabel('Password').fill(ADMIN_PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Agents' }).waitFor()
    await page.getByRole('link', { name: 'Dashboard' }).click()
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
    await page.getByText('machines online').waitFor()
    await page.locator('.stat-value.ok', { hasText: /^1$/ }).waitFor()
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor()
    await shot(page, '02-dashboard')
  })

  await check('the account menu says who is signed in', async () => {
    await page.getByTestId('account-menu').click()
    const who = await page.getByTestId('whoami').textContent()
    assert(who === 'admin', `whoami shows ${who}`)
    await page.getByText('role: admin').waitFor()
    await shot(page, '03-account-menu', { fullPage: false })
    await page.keyboard.press('Escape')
  })

  await check('the agents table lists the agent and sorts', async () => {
    await page.getByRole('link', { name: 'Agents' }).click()
    await page.getByRole('link', { name: AGENT_ID }).waitFor()
    await page.getByRole('button', { name: /Machine/ }).click()
    await page.waitForURL(/sort=pc_id/)
    await shot(page, '04-agents')
  })

  await check('the agent page shows facts and answers a ping', async () => {
    await page.getByRole('link', { name: AGENT_ID }).click()
    await page.getByRole('heading', { name: 'Facts' }).waitFor()
    await page.getByRole('button', { name: 'Ping' }).click()
    await page.getByTestId('ping-result').filter({ hasText: 'answered' }).waitFor()
    await page.getByRole('button', { name: '7d' }).click()
    await shot(page, '05-agent-detail')
  })

  /** The "From" cell of one field in the effective config table. */
  const sourceCell = (field) => page.locator('table[aria-label="Effective config"] tr', { has: page.locator('td[data-label="Field"]', { hasText: new RegExp(`^${field}$`) }) }).locator('td[data-label="From"]')

  await check('an operator starts investigation mode on the agent page, sees where each value came from and the processes, and stops it', async () => {
    const card = page.locator('section.card', { has: page.getByRole('heading', { name: 'Investigation mode' }) })
    await card.getByText('off', { exact: true }).waitFor()
    await sourceCell('process_perf_enabled').filter({ hasText: 'default' }).waitFor()
    await card.getByLabel('Investigate for').selectOption({ label: '15 min' })
    await card.getByRole('button', { name: 'Start investigation' }).click()
    const countdown = page.getByTestId('investigation-countdown')
    await countdown.waitFor()
    const left = await countdown.textContent()
    assert(/^1[45]:\d\d$/.test(left), `countdown shows ${left}`)
    await sourceCell('process_perf_enabled').filter({ hasText: `pcs.${AGENT_ID}` }).waitFor()
    await sourceCell('process_perf_expires_at').filter({ hasText: `pcs.${AGENT_ID}` }).waitFor()
    await sourceCell('heartbeat_interval').filter({ hasText: 'default' }).waitFor()
    // The agent sends its first process sample within seconds; the table refreshes by itself.
    await page.locator('table[aria-label="Processes"] td[data-label="PID"]').first().waitFor({ timeout: 60_000 })
    await shot(page, '05b-agent-investigating')
    await card.getByRole('button', { name: 'Stop' }).click()
    await card.getByText('off', { exact: true }).waitFor()
    await countdown.waitFor({ state: 'detached' })
    await sourceCell('process_perf_enabled').filter({ hasText: 'default' }).waitFor()
  })

  await check('a machine joins a group from its page', async () => {
    await page.getByLabel('Group to add').fill('e2e-lab')
    await page.getByRole('button', { name: 'Add to group' }).click()
    await page.locator('.chip', { hasText: 'e2e-lab' }).waitFor()
  })

  const jobId = 'e2e-hello'
  const marker = `hello-from-e2e-${Date.now()}`
  await check('the YAML editor flags local problems and pins server errors to their line', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click()
    await page.getByRole('link', { name: 'New job' }).click()
    const editor = page.getByLabel('Manifest (YAML)')
    await editor.fill(`id: ${jobId}\nversion: 1\nexecute:\n  shell: zsh\n  script: echo hi\n  timeout: 30s\n`)
    await page.locator('.problems li[data-field="execute.shell"]').filter({ hasText: 'line 4' }).waitFor()
    assert(await page.getByRole('button', { name: 'Create job' }).isDisabled(), 'save must be disabled while the text has problems')
    // The client does not know the timeout limit; the server answers 422 naming the field.
    await editor.fill(`id: ${jobId}\nversion: 1\nexecute:\n  shell: sh\n  script: echo hi\n  timeout: 30d\n`)
    await page.getByRole('button', { name: 'Create job' }).click()
    await page.locator('.problems li.server[data-field="execute.timeout"]').filter({ hasText: 'line 6' }).waitFor()
    await shot(page, '06-job-editor-error')
  })

  await check('an operator creates a job in the editor', async () => {
    const editor = page.getByLabel('Manifest (YAML)')
    await editor.fill(
      `id: ${jobId}\nversion: 1\ndescription: e2e job\nexecute:\n  shell: sh\n  script: |\n    sleep 2\n    echo ${marker}\n    echo to-stderr >&2\n  timeout: 60s\ntags: [e2e, demo]\n`,
    )
    await page.getByRole('button', { name: 'Create job' }).click()
    await page.getByRole('status').filter({ hasText: `Saved ${jobId} version 1` }).waitFor()
    await page.waitForURL(new RegExp(`/jobs/${jobId}$`))
    await page.getByRole('link', { name: 'All jobs' }).click()
    await page.getByRole('link', { name: jobId }).waitFor()
    await shot(page, '07-jobs')
  })

  let execUrl = ''
  await check('the job runs on the agent and its result arrives live, without a reload; while frozen the dialog asks first and the run still goes out', async () => {
    const frozen = await admin('PUT', '/api/freeze', { reason: 'e2e freeze' })
    assert(frozen.status === 200, `freeze: ${frozen.status} ${JSON.stringify(frozen.body)}`)
    await page.getByRole('button', { name: `Run ${jobId}` }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByRole('checkbox').first().waitFor()
    await dialog.getByLabel('Filter machines').fill(AGENT_ID)
    await dialog.getByRole('checkbox').first().check()
    await shot(page, '08-exec-dialog', { fullPage: false })
    await page.evaluate(() => {
      window.__e2eNoReload = true
    })
    await dialog.getByTestId('frozen-warning').filter({ hasText: 'this manual run goes out now' }).waitFor()
    await dialog.getByRole('button', { name: 'Run now' }).click()
    // The first click only asks: nothing is sent until the operator confirms.
    await dialog.getByTestId('frozen-warning').filter({ hasText: 'Send anyway?' }).waitFor()
    assert(!/\/executions\//.test(page.url()), 'sent without a confirmation')
    await dialog.getByRole('button', { name: 'Run anyway' }).click()
    await page.waitForURL(/\/executions\/[^/]+$/)
    execUrl = page.url()
    const thawed = await admin('DELETE', '/api/freeze')
    assert(thawed.status === 204, `lift the freeze: ${thawed.status}`)
    // The script sleeps 2 s: the page shows the run in progress first, then the result
    // arrives over the event stream (the page's polling fallback is 30 s, longer than this
    // wait, so only the stream can bring it in time).
    const started = Date.now()
    await page.getByRole('link', { name: 'stdout / stderr' }).waitFor({ timeout: 25_000 })
    log(`result shown ${((Date.now() - started) / 1000).toFixed(1)} s after the execution page opened`)
    assert(await page.evaluate(() => window.__e2eNoReload === true), 'the page was reloaded')
    await page.getByTestId('progress-text').first().filter({ hasText: '1/1' }).waitFor()
    await page.getByText('exit 0').waitFor()
    await shot(page, '09-execution-detail')
  })

  await check('the result page shows the stdout and stderr of the run', async () => {
    await page.getByRole('link', { name: 'stdout / stderr' }).click()
    await page.getByTestId('stdout').filter({ hasText: marker }).waitFor()
    await page.getByTestId('stderr').filter({ hasText: 'to-stderr' }).waitFor()
    await shot(page, '10-result')
  })

  await check('a running execution shows its output live on its page, and the machine page fetches the agent\'s own log lines', async () => {
    const job = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' },
      body: 'id: ticker\nversion: 1\nexecute:\n  shell: sh\n  script: for i in $(seq 1 50); do echo live-tick-$i; sleep 0.2; done\n  timeout: 60s\n',
    })
    assert(job.ok, `create ticker job: ${job.status} ${await job.text()}`)
    const fired = await admin('POST', '/api/exec/ticker', { target: { pcs: [AGENT_ID] } })
    assert(fired.status === 202, `exec ticker: ${fired.status} ${JSON.stringify(fired.body)}`)
    await page.goto(`${base}/executions/${fired.body.exec_id}`)
    await page.getByTestId('live-output').filter({ hasText: 'live-tick-5' }).waitFor()
    const now = await admin('GET', `/api/executions/${fired.body.exec_id}`)
    assert(now.body.status !== 'completed', `the run ended before its lines were seen live (${now.body.status})`)
    await shot(page, '10c-live-output')
    await page.goto(`${base}/agents/${AGENT_ID}`)
    await page.getByRole('button', { name: 'Fetch log' }).click()
    await page.getByTestId('agent-log').filter({ hasText: 'kanade agent starting' }).waitFor()
    await shot(page, '10d-agent-log')
  })

  await check('an admin opens a terminal on the machine page, runs a command in it and the session is audited', async () => {
    await page.goto(`${base}/agents/${AGENT_ID}`)
    await page.getByRole('button', { name: 'Open terminal' }).click()
    await page.getByTestId('terminal-status').filter({ hasText: 'Session ' }).waitFor()
    await page.getByTestId('terminal').click()
    // The quotes keep the typed line from matching; only the output does.
    await page.keyboard.type("echo term''inal-ok-$((6*7))\n")
    await page.getByTestId('terminal').filter({ hasText: 'terminal-ok-42' }).waitFor()
    await shot(page, '10e-terminal')
    await page.getByRole('button', { name: 'Close' }).click()
    await page.getByTestId('terminal-status').filter({ hasText: 'Ended' }).waitFor()
    await waitFor('the terminal session in the audit', T, async () => {
      const listed = await admin('GET', `/api/terminal-sessions?pc_id=${AGENT_ID}`)
      return listed.status === 200 && listed.body.some((s) => s.ended_at && s.user === 'admin')
    })
  })

  await check('two-person approval: an operator\'s request of a require_approval job waits on Activity, and the admin approves it on its page so the agent runs it', async () => {
    const made = await admin('POST', '/api/accounts', { username: 'olga', password: 'olga-first-password-1', role: 'operator' })
    assert(made.status === 201, `create operator: ${made.status} ${JSON.stringify(made.body)}`)
    const olga = apiAs(await apiLogin('olga', 'olga-first-password-1'))
    const changed = await olga('POST', '/api/auth/change-password', { current_password: 'olga-first-password-1', new_password: 'olga-second-password-1' })
    assert(changed.status === 204, `change password: ${changed.status}`)
    const olgaApi = apiAs(await apiLogin('olga', 'olga-second-password-1'))
    const job = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' },
      body: 'id: guarded\nversion: 1\nexecute:\n  shell: sh\n  script: echo approved-by-a-second-operator\n  timeout: 60s\nrequire_approval: true\n',
    })
    assert(job.ok, `create guarded job: ${job.status} ${await job.text()}`)
    const asked = await olgaApi('POST', '/api/exec/guarded', { target: { pcs: [AGENT_ID] } })
    assert(asked.status === 202 && asked.body.status === 'awaiting_approval', `request: ${asked.status} ${JSON.stringify(asked.body)}`)
    const own = await olgaApi('POST', `/api/executions/${asked.body.exec_id}/approve`, {})
    assert(own.status === 403, `the requester approved their own request: ${own.status}`)
    await page.getByRole('link', { name: 'Activity' }).click()
    const banner = page.getByTestId('awaiting-approval')
    await banner.getByRole('link', { name: 'guarded by olga' }).waitFor()
    await shot(page, '10a-awaiting-approval')
    await banner.getByRole('link', { name: 'guarded by olga' }).click()
    await page.getByTestId('approval-state').filter({ hasText: 'Awaiting' }).waitFor()
    page.once('dialog', (d) => void d.accept('e2e: second pair of eyes'))
    await page.getByRole('button', { name: 'Approve' }).click()
    await page.getByTestId('approval-state').filter({ hasText: 'Approved by admin' }).waitFor()
    await page.getByRole('link', { name: 'stdout / stderr' }).waitFor({ timeout: 25_000 })
    await shot(page, '10b-approved')
  })

  await check('activity, audit, groups, freeze and accounts pages render', async () => {
    await page.getByRole('link', { name: 'Activity' }).click()
    await page.getByRole('link', { name: jobId }).first().waitFor()
    await shot(page, '11-activity')
    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.getByRole('cell', { name: 'job.create' }).first().waitFor()
    await page.getByRole('cell', { name: 'exec', exact: true }).first().waitFor()
    await shot(page, '12-audit')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).click()
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor()
    await page.getByRole('button', { name: 'Contacts of e2e-lab' }).click()
    await page.getByText('Nobody is e-mailed about this group.').waitFor()
    await page.getByLabel('Address to add').fill('ops@example.com, not-an-address')
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    await page.locator('.field-error', { hasText: 'not-an-address' }).waitFor()
    assert(await page.getByRole('button', { name: 'Save contacts' }).isDisabled(), 'contacts with a bad address must not be saved')
    await page.getByRole('button', { name: 'Remove not-an-address' }).click()
    await page.getByRole('button', { name: 'Save contacts' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
    const stored = await admin('GET', '/api/groups/e2e-lab/email')
    assert(JSON.stringify(stored.body) === JSON.stringify({ emails: ['ops@example.com'] }), `stored contacts: ${JSON.stringify(stored.body)}`)
    await shot(page, '13-groups')
    await page.getByRole('link', { name: 'Freeze' }).click()
    await page.getByRole('heading', { name: 'Fleet freeze' }).waitFor()
    await page.getByText(/The fleet is (not )?frozen/).first().waitFor()
    await shot(page, '14-freeze')
    await page.getByRole('link', { name: 'Accounts' }).click()
    await page.locator('td[data-label="User"]', { hasText: /^admin$/ }).waitFor()
    await shot(page, '15-accounts')
  })

  await check('an operator schedules the job in the YAML editor', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Schedules' }).click()
    await page.getByRole('link', { name: 'New schedule' }).click()
    const editor = page.getByLabel('Schedule (YAML)')
    await editor.fill(`id: e2e-nightly\njob_id: ${jobId}\nwhen:\n  calendar:\n    at: "03:00"\n    days: [mon-fri]\ntarget:\n  pcs: [${AGENT_ID}]\n`)
    await page.getByRole('button', { name: 'Create schedule' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved e2e-nightly' }).waitFor()
    await page.getByRole('link', { name: 'All schedules' }).click()
    await page.getByRole('cell', { name: 'calendar 03:00 mon-fri' }).waitFor()
    await shot(page, '16-schedules')
  })

  await check('pages whose routes are missing say so instead of failing', async () => {
    for (const [link, file] of [
      ['Compliance', '18-compliance'],
      ['Notifications', '19-notifications'],
    ]) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click()
      await page.getByRole('heading', { name: link, level: 1 }).waitFor()
      // Either the placeholder (route missing), or a table or a note (route exists by now).
      await page.locator('[data-testid="not-available"], table, .alert').first().waitFor()
      await shot(page, file)
    }
  })

  await check('the Config page edits a global value, shows the server\'s complaint at its field, and the machine\'s effective view', async () => {
    const nav = page.getByRole('navigation', { name: 'Main' })
    await nav.getByRole('link', { name: 'Config' }).click()
    await page.getByRole('heading', { name: 'Config', level: 1 }).waitFor()
    await page.getByRole('heading', { name: 'Settings of global' }).waitFor()
    const field = (name) => page.getByLabel(name, { exact: true })
    const errorAt = (name) => page.locator(`tr[data-field="${name}"] .field-error`)
    // Caught here: not a number.
    await field('max_local_concurrent').fill('lots')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await errorAt('max_local_concurrent').filter({ hasText: 'whole number' }).waitFor()
    // Caught by the server: a unit it does not know; its 400 names the field.
    await field('max_local_concurrent').fill('6')
    await field('heartbeat_interval').fill('5 parsecs')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await errorAt('heartbeat_interval').filter({ hasText: 'parsecs' }).waitFor()
    await waitFor('the fixed field to drop its error', 10_000, async () => (await errorAt('max_local_concurrent').count()) === 0)
    await shot(page, '28-config-server-error')
    await page.getByRole('button', { name: 'Unset heartbeat_interval' }).click()
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved 1 change to global.' }).waitFor()
    const stored = await admin('GET', '/api/config/global')
    assert(JSON.stringify(stored.body) === JSON.stringify({ max_local_concurrent: 6 }), `global scope: ${JSON.stringify(stored.body)}`)
    // The machine's scope and effective view: the value comes from global now.
    await page.getByRole('button', { name: 'Machine', exact: true }).click()
    await page.getByLabel('Machine id').fill(AGENT_ID)
    await page.getByRole('heading', { name: `Effective config of ${AGENT_ID}` }).waitFor()
    await sourceCell('max_local_concurrent').filter({ hasText: /^global$/ }).waitFor()
    await page.waitForURL(new RegExp(`scope=pcs\\.${AGENT_ID}`))
    await shot(page, '29-config-machine')
  })

  const e2eRelease = '0.0.0-e2e'
  await check('rollout: an admin publishes a release, an operator pins and clears the global target version', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Rollout' }).click()
    await page.getByRole('heading', { name: 'Rollout', level: 1 }).waitFor()
    const publish = page.locator('section.card', { has: page.getByRole('heading', { name: 'Publish a release' }) })
    await publish.getByLabel('Version').fill(e2eRelease)
    await publish.getByLabel(/^Platform/).fill('e2e-test')
    await publish.getByLabel('Agent binary').setInputFiles({ name: 'kanade-agent', mimeType: 'application/octet-stream', buffer: Buffer.from('#!/bin/sh\necho not really an agent\n') })
    await publish.getByRole('button', { name: 'Publish', exact: true }).click()
    await publish.getByRole('status').filter({ hasText: `Published ${e2eRelease}-e2e-test` }).waitFor()
    await page.getByRole('cell', { name: e2eRelease, exact: true }).waitFor()
    // Pin the version the agent already runs, so it has nothing to update.
    const running = (await admin('GET', `/api/agents/${AGENT_ID}`)).body.agent_version
    const form = page.locator('section.card', { has: page.getByRole('heading', { name: 'Set a target version' }) })
    await form.getByLabel('Target version', { exact: true }).fill(running)
    await form.getByLabel(/^Jitter/).fill('5m')
    await form.getByRole('button', { name: 'Set target' }).click()
    await form.getByRole('status').filter({ hasText: `global now targets ${running}` }).waitFor()
    const targets = page.getByRole('table', { name: 'Target versions' })
    await targets.locator('tr', { hasText: 'global' }).locator('td[data-label="Target version"]', { hasText: running }).waitFor()
    await targets.locator('tr', { hasText: 'groups.e2e-lab' }).waitFor()
    await page.getByRole('table', { name: 'Agent versions' }).getByRole('link', { name: running }).waitFor()
    await page.getByRole('table', { name: 'Quarantined versions' }).getByText('No agent has quarantined a version.').waitFor()
    await shot(page, '20-rollout')
    await targets.getByRole('button', { name: 'Clear the target of global' }).click()
    await targets.locator('tr', { hasText: 'global' }).locator('td[data-label="Target version"]', { hasText: 'none' }).waitFor()
    const stored = await admin('GET', '/api/config/global')
    assert(stored.body.target_version === undefined && stored.body.target_version_jitter === undefined, `global scope: ${JSON.stringify(stored.body)}`)
  })

  const invJob = 'e2e-apps'
  await check('inventory: facts per job, a search built from conditions, and the history of changes', async () => {
    const manifest = (ver, apps) =>
      `id: ${invJob}\nversion: ${ver}\nexecute:\n  shell: sh\n  script: |\n    echo '${JSON.stringify({ os: `e2e-os ${ver}`, apps })}'\n  timeout: 30s\ninventory:\n  display: [{field: os, label: OS}]\n  history_scalars: [os]\n  explode:\n    - field: apps\n      table: inv_e2e_apps\n      primary_key: [name]\n      track_history: true\n      columns:\n        - {field: name, index: true}\n        - {field: version}\n        - {field: size, type: integer}\n`
    const runOnAgent = async (ver, apps) => {
      const created = await fetch(`${base}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' }, body: manifest(ver, apps) })
      assert(created.ok, `create ${invJob} v${ver}: ${created.status} ${await created.text()}`)
      const r = await admin('POST', `/api/exec/${invJob}`, { target: { pcs: [AGENT_ID] } })
      assert(r.status < 300, `exec ${invJob}: ${r.status} ${JSON.stringify(r.body)}`)
      await waitFor(`inventory of ${invJob} v${ver}`, 60_000, async () => {
        const f = await admin('GET', `/api/inventory/${invJob}`)
        return f.body?.items?.[0]?.facts?.os === `e2e-os ${ver}`
      })
    }
    await runOnAgent(1, [
      { name: 'firefox', version: '128.0', size: 250 },
      { name: 'curl', version: '8.5', size: 3 },
      { name: 'vim', version: '9.1', size: 40 },
    ])
    await runOnAgent(2, [
      { name: 'firefox', version: '129.0', size: 260 },
      { name: 'curl', version: '8.5', size: 3 },
      { name: 'git', version: '2.45', size: 30 },
    ])
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Inventory' }).click()
    await page.getByRole('heading', { name: 'Inventory', level: 1 }).waitFor()
    await page.getByLabel('Job').selectOption(invJob)
    await page.getByRole('cell', { name: 'e2e-os 2' }).waitFor()
    await shot(page, '17-inventory')
    await page.getByRole('button', { name: 'inv_e2e_apps' }).click()
    await page.getByRole('tab', { name: 'Search', selected: true }).waitFor()
    await page.getByLabel('Column 1').selectOption('name')
    await page.getByLabel('Operator 1').selectOption('startswith')
    await page.getByLabel('Value 1').fill('fi')
    await page.getByRole('button', { name: 'Add condition' }).click()
    await page.getByLabel('Column 2').selectOption('size')
    await page.getByLabel('Operator 2').selectOption('gte')
    await page.getByLabel('Value 2').fill('100')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    const results = page.getByRole('table', { name: 'Rows of inv_e2e_apps' })
    await results.getByRole('cell', { name: 'firefox' }).waitFor()
    await results.getByRole('cell', { name: '129.0' }).waitFor()
    // The table may still show the previous answer for a moment: wait for the new one.
    await waitFor('only firefox is named fi… with size ≥ 100', 10_000, async () => (await results.locator('tbody tr').count()) === 1)
    assert(/where=name__startswith%3Dfi%26size__gte%3D100/.test(page.url()), `the search is not in the URL: ${page.url()}`)
    await shot(page, '17b-inventory-search')
    await page.getByLabel('Operator 2').selectOption('in')
    await page.getByLabel('Value 2').fill('3, 260')
    await page.getByLabel('Operator 1').selectOption('ne')
    await page.getByLabel('Value 1').fill('firefox')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await results.getByRole('cell', { name: 'curl' }).waitFor()
    await waitFor('the second search shows curl only', 10_000, async () => (await results.locator('tbody tr').count()) === 1)
    await page.getByRole('tab', { name: 'History' }).click()
    const history = page.getByRole('table', { name: 'Inventory changes' })
    await history.locator('tr', { hasText: 'git' }).getByText('added').waitFor()
    await history.locator('tr', { hasText: 'vim' }).getByText('removed').waitFor()
    await history.locator('tr', { hasText: 'e2e-os 1' }).getByText('changed').waitFor()
    await shot(page, '17c-inventory-history')
    // A condition on a column the table lacks (a hand-made link): the server's 400 shows at its row.
    await page.goto(`${base}/inventory?view=search&table=inv_e2e_apps&where=nope__gt%3D1`)
    await page.locator('.condition', { has: page.getByLabel('Column 1') }).locator('.field-error', { hasText: 'unknown column `nope`' }).waitFor()
  })

  await check('an admin creates an enrollment token on Machine access, sees its text once and the token listed without its secret', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Machine access' }).click()
    await page.getByRole('heading', { name: 'Machine access', level: 1 }).waitFor()
    await page.getByRole('table', { name: 'Machines waiting for a decision' }).waitFor()
    await page.getByLabel('Group (optional)').fill('e2e-lab')
    await page.getByLabel('Expires after').fill('2h')
    await page.getByLabel('Uses').fill('5')
    await page.getByRole('button', { name: 'Create token' }).click()
    const text = (await page.getByTestId('token-text').textContent()).trim()
    assert(/^kanade-enroll-[0-9a-f]{16}-[0-9a-f]{64}$/.test(text), `token text: ${text}`)
    const id = text.slice('kanade-enroll-'.length, 'kanade-enroll-'.length + 16)
    const tokens = page.getByRole('table', { name: 'Enrollment tokens' })
    const row = tokens.locator('tr', { hasText: id })
    await row.getByRole('cell', { name: '5/5' }).waitFor()
    await row.getByRole('cell', { name: 'e2e-lab' }).waitFor()
    await shot(page, '18-machine-access')
    await page.getByRole('button', { name: 'Done' }).click()
    await page.getByRole('button', { name: 'Create token' }).waitFor()
    assert((await page.getByTestId('token-text').count()) === 0, 'the token text stays on the page')
    const listed = await admin('GET', '/api/enrollment/tokens')
    assert(listed.status === 200 && listed.body.some((t) => t.id === id), `GET /api/enrollment/tokens: ${JSON.stringify(listed)}`)
    assert(!JSON.stringify(listed.body).includes(text.slice(-64)), 'the token list carries the secret')
  })

  await check('the dark theme and a phone-sized screen work', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
    await page.getByRole('button', { name: 'Switch to dark theme' }).click()
    const theme = await page.evaluate(() => document.documentElement.dataset.theme)
    assert(theme === 'dark', `theme is ${theme}`)
    await shot(page, '21-dashboard-dark')
    await page.setViewportSize({ width: 390, height: 844 })
    await page.getByRole('button', { name: 'Menu' }).click()
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click()
    await page.getByRole('heading', { name: 'Jobs' }).waitFor()
    await shot(page, '22-jobs-phone')
    await page.goto(execUrl)
    await page.getByText('exit 0').waitFor()
    await shot(page, '23-execution-phone')
    await page.setViewportSize({ width: 1280, height: 860 })
    await page.getByRole('button', { name: 'Switch to light theme' }).click()
  })

  const viewerFirst = 'viewer-first-password'
  const viewerSecond = 'viewer-second-password'
  await check('a viewer account is created through the API', async () => {
    const r = await admin('POST', '/api/accounts', { username: 'viewer1', password: viewerFirst, role: 'viewer' })
    assert(r.status === 201, `create viewer: ${r.status} ${JSON.stringify(r.body)}`)
  })

  await check('the viewer must change the one-time password before anything else', async () => {
    await page.getByTestId('account-menu').click()
    await page.getByRole('menuitem', { name: 'Sign out' }).click()
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    await page.getByLabel('User name').fill('viewer1')
    await page.getByLabel('Password').fill(viewerFirst)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor()
    // Going elsewhere by hand comes back here.
    await page.goto(`${base}/jobs`)
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor()
    await shot(page, '24-forced-password-change')
    await page.getByLabel('Current password').fill(viewerFirst)
    await page.getByLabel('New password', { exact: true }).fill(viewerSecond)
    await page.getByLabel('New password again').fill(viewerSecond)
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  })

  await check('the viewer sees no button that changes anything', async () => {
    const pages = [
      ['/', 'Dashboard'],
      ['/agents', 'Agents'],
      [`/agents/${AGENT_ID}`, AGENT_ID],
      ['/jobs', 'Jobs'],
      [`/jobs/${jobId}`, jobId],
      ['/executions', 'Activity'],
      [new URL(execUrl).pathname, jobId],
      ['/freeze', 'Fleet freeze'],
      ['/accounts', 'Accounts'],
      ['/machines', 'Machine access'],
      ['/schedules', 'Schedules'],
      ['/schedules/e2e-nightly', 'e2e-nightly'],
      ['/notifications', 'Notifications'],
      ['/compliance', 'Compliance'],
      ['/groups', 'Groups'],
      ['/groups?contacts=e2e-lab', 'Groups'],
      ['/config', 'Config'],
      ['/config?scope=groups.e2e-lab', 'Config'],
      [`/config?scope=pcs.${AGENT_ID}`, 'Config'],
      ['/rollout', 'Rollout'],
      ['/inventory', 'Inventory'],
      [`/inventory?job=${invJob}`, 'Inventory'],
      ['/inventory?view=search&table=inv_e2e_apps&where=size__gt%3D1', 'Inventory'],
      ['/inventory?view=history', 'Inventory'],
    ]
    for (const [p, heading] of pages) {
      await page.goto(`${base}${p}`)
      await page.getByRole('heading', { name: heading }).first().waitFor()
      await settle(page)
      const mutating = await page.locator('[data-mutating]').count()
      assert(mutating === 0, `${p}: ${mutating} mutating control(s) shown to a viewer`)
      for (const name of ['New job', 'Run…', 'Save', 'Create job', 'Delete job', 'Kill', 'New account', 'Freeze the fleet', 'New schedule', 'Send', 'Disable', 'Start investigation', 'Extend', 'Stop', 'Save changes', 'Remove all settings here', 'Save contacts', 'Add to group', 'Publish', 'Set target', 'Clear']) {
        assert((await page.getByRole('button', { name, exact: true }).count()) === 0 && (await page.getByRole('link', { name, exact: true }).count()) === 0, `${p}: "${name}" shown to a viewer`)
      }
    }
    assert(!(await page.getByRole('link', { name: 'Accounts' }).count()), 'the Accounts link is shown to a viewer')
    assert(!(await page.getByRole('link', { name: 'Machine access' }).count()), 'the Machine access link is shown to a viewer')
    await page.goto(`${base}/config?scope=pcs.${AGENT_ID}`)
    await sourceCell('max_local_concurrent').filter({ hasText: /^global$/ }).waitFor()
    assert((await page.locator('table.config-form input, table.config-form select').count()) === 0, 'the config form is editable for a viewer')
    await shot(page, '25b-viewer-config')
    await page.goto(`${base}/jobs/${jobId}`)
    await page.getByText('Manifest (read only)').waitFor()
    await shot(page, '25-viewer-job')
  })

  await check('a direct POST with the viewer token is refused with 403', async () => {
    const fromBrowser = await page.evaluate(async (id) => {
      const token = localStorage.getItem('kanade.token')
      const r = await fetch(`/api/exec/${id}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ target: { all: true } }),
      })
      return { status: r.status, body: await r.json() }
    }, jobId)
    assert(fromBrowser.status === 403 && fromBrowser.body.error.code === 'forbidden', `exec as viewer: ${JSON.stringify(fromBrowser)}`)
    const viewer = apiAs(await apiLogin('viewer1', viewerSecond))
    const r = await viewer('POST', '/api/accounts', { username: 'x', password: 'xxxxxxxxxxxx', role: 'admin' })
    assert(r.status === 403, `create account as viewer: ${r.status}`)
  })

  await check('the viewer turns on two-factor sign-in and is asked for the code at sign-in', async () => {
    await page.goto(`${base}/account`)
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
    const secret = (await page.locator('code.break').textContent()).trim()
    await page.getByLabel('Code').fill(totpNow(secret))
    await page.getByRole('button', { name: 'Turn on' }).click()
    await page.getByRole('status').filter({ hasText: 'Two-factor sign-in is on.' }).waitFor()
    await shot(page, '26-my-account')
    await page.getByTestId('account-menu').click()
    await page.getByRole('menuitem', { name: 'Sign out' }).click()
    await page.getByLabel('User name').fill('viewer1')
    await page.getByLabel('Password').fill(viewerSecond)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByLabel('Authenticator code').waitFor()
    await shot(page, '27-login-totp')
    await page.getByLabel('Authenticator code').fill(totpNow(secret))
    await page.getByRole('button', { name: 'Verify' }).click()
    // After signing out, signing in starts at the dashboard, not at the page left behind.
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  })

  // Checks kept in their own files, web/e2e/checks/*.mjs in name order: each exports
  // `run(ctx)` and starts by signing in as whom it needs (`ctx.signIn(token)`).
  const signIn = async (token) => {
    await page.goto(`${base}/`)
    await page.evaluate((t) => localStorage.setItem('kanade.token', t), token)
    await page.goto(`${base}/`)
  }
  // Registers the job written in `yaml` (its id is `id`) and runs it on the local agent; the
  // execution's id.
  const fireOnAgent = async (id, yaml) => {
    const created = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/yaml' },
      body: yaml,
    })
    assert(created.ok, `create job ${id}: ${created.status} ${await created.text()}`)
    const fired = await admin('POST', `/api/exec/${id}`, { target: { pcs: [AGENT_ID] } })
    assert(fired.status === 202, `exec ${id}: ${fired.status} ${JSON.stringify(fired.body)}`)
    return fired.body.exec_id
  }
  const ctx = { page, base, admin, adminToken, apiAs, apiLogin, signIn, check, shot, settle, assert, waitFor, sleep, log, fireOnAgent, AGENT_ID, T, SHOTS, tmp }
  const checksDir = path.join(WEB, 'e2e/checks')
  const files = fs.existsSync(checksDir) ? fs.readdirSync(checksDir).filter((f) => f.endsWith('.mjs')).sort() : []
  for (const file of files) {
    if (ONLY && !file.includes(ONLY)) continue
    inChecksFile = true
    await (await import(path.join(checksDir, file))).run(ctx)
    inChecksFile = false
  }

  await check('no errors in the browser console', async () => {
    // Chromium logs every non-2xx fetch as a failed resource load: the probes of routes that
    // do not exist yet (404) and the errors provoked on purpose (400, 401, 403, 422). Anything else
    // (a thrown error, a React warning) fails the test.
    const real = consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of (400|401|403|404|422)/.test(e))
    assert(real.length === 0, `console errors:\n${real.join('\n')}`)
    if (consoleErrors.length) log(`${consoleErrors.length} expected failed resource loads (404 probes, provoked 400/401/403/422)`)
  })
}

let code = 0
try {
  await main()
} catch (err) {
  code = 1
  if (!results.some((r) => !r.ok)) log(`FAIL setup: ${err.stack ?? err}`)
  for (const name of ['nats', 'backend', 'agent']) {
    const t = tmp && tail(name)
    if (t) console.log(`\n--- last lines of ${name}.log ---\n${t}`)
  }
} finally {
  await stopAll()
}
const passed = results.filter((r) => r.ok).length
const failed = results.length - passed + (code && results.every((r) => r.ok) ? 1 : 0)
console.log(`\ne2e: ${passed} passed, ${failed} failed`)
console.log(`screenshots in ${path.relative(process.cwd(), SHOTS) || SHOTS}`)
process.exit(code)
