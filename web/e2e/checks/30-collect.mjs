// File collection in the dashboard (issue 15 item 2): a job with a `collect` hint runs on the
// real agent, its bundle is listed on the Collections page (linked from the nav and from the
// result page), downloads as a zip, and is deleted from the page.

import fs from 'node:fs'
import path from 'node:path'

export async function run(ctx) {
  const { page, base, admin, adminToken, check, shot, assert, waitFor, fireOnAgent, AGENT_ID, T, tmp } = ctx
  await ctx.signIn(adminToken)

  const dir = fs.realpathSync(fs.mkdtempSync(path.join(tmp, 'collect-')))
  const file = path.join(dir, 'report.txt')
  fs.writeFileSync(file, 'collected by the e2e check\n')
  let key = ''
  let resultId = ''

  await check('a collect job uploads a bundle the result names', async () => {
    const yaml = [
      'id: e2e-collect',
      'version: 1',
      'execute:',
      '  shell: sh',
      '  timeout: 30s',
      '  script: |',
      `    echo '{"files": ["${file}"]}'`,
      'collect:',
      '  name: report',
      `  allow: ["${dir}"]`,
      '',
    ].join('\n')
    const execId = await fireOnAgent('e2e-collect', yaml)
    let detail = null
    await waitFor('the collect run', T, async () => {
      detail = (await admin('GET', `/api/executions/${execId}`)).body
      return detail?.results?.some((r) => r.job_id === 'e2e-collect' && r.exit_code !== null)
    })
    resultId = detail.results.find((r) => r.job_id === 'e2e-collect').result_id
    const result = (await admin('GET', `/api/results/${resultId}`)).body
    assert(result.exit_code === 0, `exit ${result.exit_code}: ${result.stderr}`)
    key = result.collect_object
    assert(key && key.startsWith(`${AGENT_ID}/e2e-collect/`), `collect_object: ${key}`)
  })

  await check('the result page links its bundle; the Collections page lists and downloads it', async () => {
    await page.goto(`${base}/results/${resultId}`)
    const link = page.getByTestId('result-bundle')
    await link.waitFor()
    assert(((await link.textContent()) ?? '').includes(key), 'the bundle key is shown')
    await shot(page, '30-result-bundle')
    await link.click()
    await page.getByRole('heading', { name: 'Collections' }).waitFor()
    const row = page.getByRole('row').filter({ hasText: key })
    await row.waitFor()
    await shot(page, '30-collections')
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: 'Download' }).click()])
    const saved = path.join(tmp, 'bundle.zip')
    await download.saveAs(saved)
    const bytes = fs.readFileSync(saved)
    assert(bytes.subarray(0, 2).toString() === 'PK', 'a zip file')
    assert(bytes.includes(Buffer.from('report.txt')), 'the zip names the file')
    // The nav reaches the page too.
    await page.goto(`${base}/`)
    await page.getByRole('link', { name: 'Collections' }).first().click()
    await page.getByRole('row').filter({ hasText: key }).waitFor()
  })

  await check('deleting a bundle from the page removes it', async () => {
    page.once('dialog', (d) => void d.accept())
    const row = page.getByRole('row').filter({ hasText: key })
    await row.getByRole('button', { name: 'Delete' }).click()
    await waitFor('the bundle gone', T, async () => (await admin('GET', '/api/collect/bundles')).body.every((b) => b.key !== key))
    await row.waitFor({ state: 'detached' })
  })
}
