'use strict'
// Debian's chromium driven by playwright-core, for the tests of the
// validator page (test/validator-page.test.js, test/agree.test.js).
// Never downloads a browser: scripts/tools.js installs the `chromium`
// package for npm test, and a missing /usr/bin/chromium fails the test.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const { chromium } = require('playwright-core')

const { build } = require('../../scripts/build-web')

const CHROMIUM = process.env.RELAY_CHROMIUM || '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

// Builds dist/relay-validator.html afresh (never a stale page) and opens it
// from disk. Every request the page makes is recorded in `requests`.
async function openValidator({ width = 1000, height = 900 } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (npm test installs it as root)`)
  }
  const built = build()
  const url = pathToFileURL(built.path).href
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width, height },
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const requests = []
  const errors = []
  page.on('request', (r) => requests.push(r.url()))
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  await page.goto(url)
  await page.waitForSelector('html[data-ready]', { timeout: 15000 })
  const close = async () => {
    await context.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
  return { page, url, built, requests, errors, close }
}

// Puts the three files' texts and a client question into the page and
// waits until the module has them.
async function ask(page, { files = {}, ip, auth, rcpts } = {}) {
  for (const [file, text] of Object.entries(files)) {
    await page.getByRole('textbox', { name: file, exact: true }).fill(text)
  }
  if (ip !== undefined) await page.getByRole('textbox', { name: 'Client address' }).fill(ip)
  if (auth !== undefined) await page.getByRole('checkbox', { name: 'Authenticated (SMTP AUTH)' }).setChecked(!!auth)
  if (rcpts !== undefined) await page.getByRole('textbox', { name: 'Recipients' }).fill(rcpts.join('\n'))
  await page.waitForSelector('html:not([data-busy])')
}

// What the page shows: its diagnostics and its answer, from the DOM.
function readPage(page) {
  return page.evaluate(() => {
    const diagnostics = [...document.querySelectorAll('.diags li')].map((li) => ({
      file: li.dataset.file,
      line: Number(li.dataset.line),
      column: Number(li.dataset.column),
      severity: li.dataset.severity,
      code: li.dataset.code,
      message: li.querySelector('.msg').textContent,
    }))
    const v = document.querySelector('#answer .verdict')
    const client = v && { relay: v.dataset.relay === 'true', why: v.dataset.why, line: Number(v.dataset.line), text: v.textContent }
    const recipients = [...document.querySelectorAll('#answer .rcpts li')].map((li) => ({
      address: li.dataset.address,
      accepted: li.classList.contains('accepted'),
      code: Number(li.dataset.code),
      message: li.dataset.message,
      reason: li.dataset.reason,
      line: Number(li.dataset.line),
      route: li.dataset.route,
      nexthop: li.dataset.nexthop ? JSON.parse(li.dataset.nexthop) : null,
      // what outbound is handed (get_mx), when the page says
      outbound: li.dataset.outbound ? JSON.parse(li.dataset.outbound) : undefined,
      text: li.textContent,
    }))
    return { diagnostics, client, recipients }
  })
}

module.exports = { openValidator, ask, readPage, CHROMIUM }
