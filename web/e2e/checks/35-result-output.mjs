// Output too big to keep inline (issue 15): a run printing well over 256 KiB keeps only the
// first 256 KiB in its result and spills the whole stream to the `result_output` object store.
// The result page says so and offers "Download" (the whole stream as a file, fetched from
// GET /api/results/{id}/output) and "Show all" (the whole stream in place); both must reach
// the last line, which the inline view lacks.

import fs from 'node:fs'
import path from 'node:path'

const LAST = 'THE-LAST-LINE'

export async function run(ctx) {
  const { page, base, admin, adminToken, check, shot, assert, waitFor, fireOnAgent, T, tmp } = ctx
  await ctx.signIn(adminToken)

  let resultId = ''
  let full = ''

  await check('a run printing over 256 KiB keeps the first 256 KiB inline and spills the rest', async () => {
    const yaml = [
      'id: e2e-big-output',
      'version: 1',
      'execute:',
      '  shell: sh',
      '  timeout: 60s',
      '  script: |',
      // About 330 KiB of numbered lines, then a line only the full output has.
      `    seq 1 60000; echo ${LAST}`,
      '',
    ].join('\n')
    const execId = await fireOnAgent('e2e-big-output', yaml)
    let detail = null
    await waitFor('the big-output run', 60_000, async () => {
      detail = (await admin('GET', `/api/executions/${execId}`)).body
      return detail?.results?.some((r) => r.job_id === 'e2e-big-output' && r.exit_code !== null)
    })
    resultId = detail.results.find((r) => r.job_id === 'e2e-big-output').result_id
    const result = (await admin('GET', `/api/results/${resultId}`)).body
    assert(result.exit_code === 0, `exit ${result.exit_code}: ${result.stderr}`)
    assert(result.stdout_object, `no stdout_object: the output was not spilled (${result.stdout.length} chars inline)`)
    assert(!result.stdout.includes(LAST), 'the inline stdout already has the last line')
    assert(Buffer.byteLength(result.stdout) <= 256 * 1024, `inline stdout is ${Buffer.byteLength(result.stdout)} bytes`)
    // The agent uploads the spilled stream on its own; wait until the route serves all of it.
    await waitFor('the whole stdout from the output route', T, async () => {
      const r = await fetch(`${base}/api/results/${resultId}/output?stream=stdout`, { headers: { authorization: `Bearer ${adminToken}` } })
      if (!r.ok) return false
      full = await r.text()
      return r.headers.get('x-kanade-output') === 'spilled' && full.endsWith(`${LAST}\n`)
    })
    assert(full.startsWith('1\n2\n3\n') && full.includes('\n60000\n'), 'the full output is the whole seq')
  })

  await check('the result page shows the truncated stdout, downloads the whole of it and shows all on request', async () => {
    await page.goto(`${base}/results/${resultId}`)
    const stdout = page.getByTestId('stdout')
    await stdout.waitFor()
    const card = page.locator('section.card', { has: stdout })
    const note = card.locator('.alert.info')
    await note.filter({ hasText: 'Only the first 256 KiB are shown' }).waitFor()
    const inline = (await stdout.textContent()) ?? ''
    assert(inline.length > 0 && !inline.includes(LAST), 'the inline view already has the last line')
    await shot(page, '35-result-output-truncated')

    // Download: the whole stream, fetched from the output route, saved as a file.
    const outputRequests = []
    const onRequest = (req) => {
      if (req.url().includes(`/api/results/${encodeURIComponent(resultId)}/output`)) outputRequests.push(req.url())
    }
    page.on('request', onRequest)
    const [download] = await Promise.all([page.waitForEvent('download'), note.getByRole('button', { name: 'Download' }).click()])
    page.off('request', onRequest)
    assert(outputRequests.length === 1 && new URL(outputRequests[0]).searchParams.get('stream') === 'stdout', `output requests: ${outputRequests.join(', ')}`)
    assert(download.suggestedFilename() === `${resultId}.stdout.txt`, `download named ${download.suggestedFilename()}`)
    const saved = path.join(tmp, 'result-stdout.txt')
    await download.saveAs(saved)
    const bytes = fs.readFileSync(saved)
    assert(bytes.length === Buffer.byteLength(full), `downloaded ${bytes.length} bytes, the route serves ${Buffer.byteLength(full)}`)
    assert(bytes.toString('utf8') === full, 'the downloaded file differs from the full output')

    // Show all: the whole stream in place, the note gone, the last line at the bottom.
    await note.getByRole('button', { name: 'Show all' }).click()
    await waitFor('the last line in the stdout view', T, async () => ((await stdout.textContent()) ?? '').endsWith(`${LAST}\n`))
    await note.waitFor({ state: 'detached' })
    assert((await stdout.textContent()) === full, 'the shown output differs from the full output')
    // Scrolled to the bottom, the last line is inside the view's visible box.
    await stdout.scrollIntoViewIfNeeded()
    await stdout.evaluate((el) => {
      el.scrollTop = el.scrollHeight
    })
    const seen = await stdout.evaluate((el, last) => {
      const node = el.firstChild
      const at = node.textContent.lastIndexOf(last)
      const range = document.createRange()
      range.setStart(node, at)
      range.setEnd(node, at + last.length)
      const line = range.getBoundingClientRect()
      const box = el.getBoundingClientRect()
      return line.height > 0 && line.top >= box.top && line.bottom <= box.bottom
    }, LAST)
    assert(seen, 'the last line is not within the visible stdout view')
    await shot(page, '35-result-output-all', { fullPage: false })
  })
}
