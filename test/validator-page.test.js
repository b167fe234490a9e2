'use strict'
// The validator page (dist/relay-validator.html) in a real browser: Debian's
// chromium driven by playwright-core. The page is built afresh first.
//
//   node --test test/validator-page.test.js
//   UPDATE_SCREENSHOT=1 node --test test/validator-page.test.js   also refreshes docs/relay-validator.png

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const { openValidator, ask, readPage } = require('./support/browser')
const { relayCheck } = require('./support/relay-check')
const { harakaRcpt, randomRcpts, UNICODE_RCPTS } = require('./support/haraka-rcpt')

const REPO = path.resolve(__dirname, '..')
const SHOT = path.join(REPO, 'test', '.tmp', 'relay-validator.png')

const RELAY_INI = '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\nall=false\n'
const DOMAINS = [
  '[domains]',
  'example.com = { "action": "accept", "nexthop": "192.0.2.25:2525" }',
  'example.net = { "action": "continue" }',
  'example.org = { "action": "deny" }',
  'broken.example = { "action": "accept", "nexthop": "host:99999" }',
  '',
].join('\n')

describe('validator page', () => {
  let v
  before(async () => {
    v = await openValidator()
  })
  after(async () => {
    await v?.close()
  })

  it('is one file of modest size that starts with the shipped config, clean', async () => {
    const html = fs.readFileSync(v.built.path, 'utf8')
    assert.ok(v.built.bytes < 256 * 1024, `${v.built.bytes} bytes`)
    // (a CSS url(); `new URL(` in a script parses a host name, it fetches nothing)
    assert.ok(!/<script[^>]+src=|<link[^>]+stylesheet|@import|(?<!new )url\(/i.test(html), 'the page refers to another file')
    const { diagnostics } = await readPage(v.page)
    assert.deepEqual(diagnostics, [])
    assert.equal(await v.page.locator('#counts').textContent(), 'All three files: no problems')
    assert.match(await v.page.getByRole('textbox', { name: 'relay.ini', exact: true }).inputValue(), /^\[relay\]$/m)
  })

  it('shows a diagnostic at its line as you type, errors and warnings apart', async () => {
    const acl = v.page.getByRole('textbox', { name: 'relay_acl_allow', exact: true })
    await acl.fill('')
    await acl.pressSequentially('# office\n192.0.2.0/24\n10.0.0.1/33\n0.0.0.0/0')
    await v.page.waitForSelector('html:not([data-busy])')
    const { diagnostics } = await readPage(v.page)
    assert.deepEqual(
      diagnostics.map(({ file, line, column, severity, code }) => ({ file, line, column, severity, code })),
      [
        { file: 'relay_acl_allow', line: 3, column: 10, severity: 'error', code: 'acl-bad-prefix' },
        { file: 'relay_acl_allow', line: 4, column: 1, severity: 'warning', code: 'acl-whole-internet' },
      ],
    )
    // the gutter marks the lines, each severity its own way
    const editor = v.page.locator('.editor[data-file="relay_acl_allow"]')
    assert.deepEqual(await editor.locator('.gutter span.error').allTextContents(), ['3'])
    assert.deepEqual(await editor.locator('.gutter span.warning').allTextContents(), ['4'])
    assert.equal(await editor.locator('.fstat').textContent(), '1 error, 1 warning')
    const bg = (sel) => editor.locator(sel).evaluate((n) => getComputedStyle(n).backgroundColor)
    assert.notEqual(await bg('.diags li.error'), await bg('.diags li.warning'))
    // the open relay stands out in the summary
    assert.match(await v.page.locator('#alerts .alert').textContent(), /Open relay.*relay_acl_allow:4.*every IPv4 address/)
  })

  it('goes to the line from the keyboard', async () => {
    const go = v.page.getByRole('button', { name: 'go to relay_acl_allow line 3:10' })
    await go.focus()
    await v.page.keyboard.press('Enter')
    const sel = await v.page.evaluate(() => {
      const ta = document.activeElement
      return { name: ta.labels?.[0]?.textContent, text: ta.value.slice(ta.selectionStart, ta.selectionEnd) }
    })
    assert.deepEqual(sel, { name: 'relay_acl_allow', text: '10.0.0.1/33' })
  })

  it('summarises the effective settings, defaults included', async () => {
    await ask(v.page, { files: { 'relay.ini': '[relay]\nforce_routing=yes\n' } })
    const rows = await v.page.locator('#settings tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].slice(0, 3).map((c) => c.textContent)))
    assert.deepEqual(rows, [
      ['acl', 'true', 'true'],
      ['force_routing', 'true', 'false'],
      ['dest_domains', 'false', 'false'],
      ['all', 'false', 'false'],
    ])
  })

  it('answers a client question, explained, as relay-check would', async () => {
    await ask(v.page, {
      files: { 'relay.ini': RELAY_INI, relay_acl_allow: '# office\n192.0.2.0/24\n', 'relay_dest_domains.ini': DOMAINS },
      ip: '203.0.113.5',
      auth: false,
      rcpts: ['a@example.com', 'victim@elsewhere.example', 'b@Example.NET', 'c@example.org', 'd@broken.example'],
    })
    const { client, recipients, diagnostics } = await readPage(v.page)
    assert.deepEqual(
      diagnostics.map((d) => `${d.file}:${d.line} ${d.code}`),
      ['relay_dest_domains.ini:5 dest-bad-nexthop'],
    )
    assert.equal(client.relay, false)
    assert.match(client.text, /^The client does not relay\. 203\.0\.113\.5 is not in relay_acl_allow/)
    assert.deepEqual(
      recipients.map((r) => [r.address, r.code, r.message, r.route, r.nexthop]),
      [
        ['a@example.com', 250, 'recipient <a@example.com> OK', 'nexthop', '192.0.2.25:2525'],
        ['victim@elsewhere.example', 550, 'You are not allowed to relay', 'none', null],
        ['b@Example.NET', 250, 'recipient <b@Example.NET> OK', 'mx', null],
        ['c@example.org', 550, 'You are not allowed to relay', 'none', null],
        // a route that cannot be read: the action decides, the mail is deferred
        ['d@broken.example', 250, 'recipient <d@broken.example> OK', 'invalid', null],
      ],
    )
    assert.match(recipients[4].text, /deferred: .*nexthop: port out of range/)
    assert.match(recipients[0].text, /relay_dest_domains\.ini line 2 says accept for example\.com/)
    assert.match(recipients[1].text, /550 You are not allowed to relay.*elsewhere\.example is not listed/)
    assert.match(await v.page.locator('#command').textContent(), /^relay-check --ip 203\.0\.113\.5 --rcpt a@example\.com --rcpt victim@elsewhere\.example/)

    // the same client from the office network, then authenticated
    await ask(v.page, { ip: '192.0.2.9' })
    let page = await readPage(v.page)
    assert.deepEqual([page.client.relay, page.client.why, page.client.line], [true, 'acl', 2])
    assert.ok(page.recipients.every((r) => r.code === 250 && r.reason === 'relay-acl'))
    assert.equal(page.recipients[4].route, 'invalid')
    await ask(v.page, { ip: '203.0.113.5', auth: true })
    page = await readPage(v.page)
    assert.deepEqual([page.client.relay, page.client.why], [true, 'auth'])
  })

  it('reports what changes on switching from 1.0.2, item for item as relay-check --compare 1.0.2', async () => {
    const { escapeText } = require('../js/safe-text')
    const { json } = relayCheck(REPO)
    for (const name of ['domains', 'acl', 'none']) {
      const dir = path.join(REPO, 'test', 'fixtures', 'compare', name, 'config')
      const files = {}
      for (const f of ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']) {
        const p = path.join(dir, f)
        files[f] = fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : ''
      }
      const want = json([dir, '--compare', '1.0.2']).doc.comparison
      await ask(v.page, { files })
      await v.page.getByRole('button', { name: 'Compare with 1.0.2' }).click()
      const got = await v.page.evaluate(() =>
        [...document.querySelectorAll('#differences li')].map((li) => ({
          file: li.dataset.file,
          line: Number(li.dataset.line),
          direction: li.dataset.direction,
          code: li.dataset.code,
          message: li.querySelector('.msg').textContent,
        })),
      )
      assert.deepEqual(
        got,
        want.items.map((it) => ({ file: it.file, line: it.line, direction: it.direction, code: it.code, message: escapeText(it.message) })),
        name,
      )
      assert.equal(want.items.length > 0, name !== 'none', `${name}: ${want.items.length} differences`)
      const status = await v.page.locator('#compare-status').textContent()
      assert.match(status, want.differences ? new RegExp(`^compared with haraka-plugin-relay 1\\.0\\.2: ${want.differences} difference`) : /no differences/)
      // an edit makes the report stale: it is cleared until asked again
      await ask(v.page, { files: { 'relay.ini': `${files['relay.ini']}\n` } })
      assert.equal(await v.page.locator('#differences li').count(), 0)
    }
  })

  it('takes dropped files: by name, and refuses one that is not text', async () => {
    const drop = (target, files) =>
      v.page.evaluate(
        ({ target, files }) => {
          const dt = new DataTransfer()
          for (const f of files) dt.items.add(new File([new Uint8Array(f.bytes)], f.name))
          const zone = document.querySelector(`.editor[data-file="${target}"] .code`)
          zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
        },
        { target, files: files.map(([name, text]) => ({ name, bytes: [...Buffer.from(text)] })) },
      )
    await drop('relay.ini', [['office-acl.txt', '198.51.100.0/24\n300.1.1.1\n']])
    await v.page.waitForFunction(() => document.getElementById('notice').textContent.includes('office-acl.txt opened in relay.ini'))
    // a file of another name goes to the editor it names
    await drop('relay.ini', [
      ['relay_acl_allow', '198.51.100.0/24\n300.1.1.1\n'],
      ['relay.ini', '[relay]\nacl=true\n'],
    ])
    await v.page.waitForFunction(() => document.getElementById('notice').textContent.includes('relay_acl_allow opened in relay_acl_allow'))
    assert.equal(await v.page.getByRole('textbox', { name: 'relay_acl_allow', exact: true }).inputValue(), '198.51.100.0/24\n300.1.1.1\n')
    const { diagnostics } = await readPage(v.page)
    assert.ok(diagnostics.some((d) => d.file === 'relay_acl_allow' && d.line === 2 && d.code === 'acl-bad-address'))
    // a file that is not clean text is read as the plugin reads it, never refused
    await drop('relay.ini', [['blob.bin', '[relay]\n\u0000\u0001']])
    await v.page.waitForFunction(() => /blob\.bin opened in relay\.ini/.test(document.getElementById('notice').textContent))
    assert.equal(await v.page.getByRole('textbox', { name: 'relay.ini', exact: true }).inputValue(), '[relay]\n\u0000\u0001')
    assert.ok((await readPage(v.page)).diagnostics.some((d) => d.file === 'relay.ini' && d.line === 2 && d.severity === 'error'))
  })

  it('reads a dropped file with bytes that are not UTF-8 as Haraka does, with a warning at each such line', async () => {
    await ask(v.page, { files: { 'relay.ini': RELAY_INI, 'relay_dest_domains.ini': DOMAINS }, ip: '192.0.2.7', rcpts: ['a@elsewhere.example'] })
    const acl = [...Buffer.from('# caf\xe9 office\r\n192.0.2.0/24\n# \xff\xfe\n', 'latin1')]
    await v.page.evaluate((bytes) => {
      const dt = new DataTransfer()
      dt.items.add(new File([new Uint8Array(bytes)], 'relay_acl_allow'))
      document.querySelector('.editor[data-file="relay_acl_allow"] .code').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    }, acl)
    await v.page.waitForFunction(() => /relay_acl_allow opened in relay_acl_allow \(bytes that are not UTF-8 on 2 lines, read as Haraka reads them\)/.test(document.getElementById('notice').textContent))
    await v.page.waitForSelector('html:not([data-busy])')
    let page = await readPage(v.page)
    assert.deepEqual(
      page.diagnostics.filter((d) => d.file === 'relay_acl_allow'),
      [
        { file: 'relay_acl_allow', line: 1, column: 6, severity: 'warning', code: 'text-encoding', message: 'a byte that is not UTF-8 (0xe9) at column 6; read as U+FFFD, as Haraka reads it' },
        { file: 'relay_acl_allow', line: 3, column: 3, severity: 'warning', code: 'text-encoding', message: '2 bytes that are not UTF-8 (0xff 0xfe) from column 3; read as U+FFFD, as Haraka reads them' },
      ],
    )
    assert.deepEqual([page.client.relay, page.client.line], [true, 2])
    // once edited, the text is what the editor would save: UTF-8
    const ta = v.page.getByRole('textbox', { name: 'relay_acl_allow', exact: true })
    await ta.press('End')
    await ta.pressSequentially('\n')
    await v.page.waitForSelector('html:not([data-busy])')
    page = await readPage(v.page)
    assert.deepEqual(page.diagnostics.filter((d) => d.file === 'relay_acl_allow'), [])
  })

  it('maps Unicode recipient domains as Haraka does, and answers 501 where Haraka refuses the address', async () => {
    const listed = ['xn--bcher-kva.example', 'good.example', 'xn--fa-hia.example', 'ix.example']
    await ask(v.page, {
      files: { 'relay.ini': RELAY_INI, relay_acl_allow: '', 'relay_dest_domains.ini': `[domains]\n${listed.map((d) => `${d} = { "action": "accept" }`).join('\n')}\n` },
      ip: '203.0.113.5',
      auth: false,
      rcpts: UNICODE_RCPTS,
    })
    const { recipients } = await readPage(v.page)
    assert.equal(recipients.length, UNICODE_RCPTS.length)
    UNICODE_RCPTS.forEach((text, i) => {
      const h = harakaRcpt(text)
      const want = h.code ? [501, h.message] : [listed.includes(h.host) ? 250 : 550]
      const got = h.code ? [recipients[i].code, recipients[i].message] : [recipients[i].code]
      assert.deepEqual(got, want, JSON.stringify(text))
    })
    const dot = recipients[UNICODE_RCPTS.indexOf('u@good.example.')]
    assert.match(dot.text, /Answer: 501 Invalid RCPT TO address <u@good\.example\.>: Invalid RFC-5321 address at position 16: expected sub-domain/)
    assert.match(dot.text, /Haraka refuses the address itself/)
  })

  it("reads random recipients as Haraka does, with the browser's URL parser for the IDN mapping", async () => {
    const rcpts = randomRcpts(11, 5000)
    const got = await v.page.evaluate((list) => {
      // the page has no Node: the mapping must be the URL parser's
      if (typeof require !== 'undefined') throw new Error('require exists in the page')
      return list.map((s) => {
        const p = globalThis.RelayDecide.parseRecipient(s)
        return p.error ? { error: p.error } : { domain: p.domain, address: `<${p.address}>` }
      })
    }, rcpts)
    let ok = 0
    const apart = []
    rcpts.forEach((s, i) => {
      const h = harakaRcpt(s)
      const want = h.code ? { error: h.message } : { domain: h.host, address: h.address.format() }
      if (!h.code) ok++
      // A known difference: for a label that begins with xn-- but is no
      // valid A-label (its Punycode is broken or decodes to ASCII only), in
      // a domain that also holds non-ASCII characters, Chromium's UTS-46
      // (ICU) and Node's (ada) do not always agree.  Only there.
      if (/xn--/i.test(s.slice(s.lastIndexOf('@'))) && JSON.stringify(got[i]) !== JSON.stringify(want)) return apart.push(s)
      assert.deepEqual(got[i], want, JSON.stringify(s))
    })
    assert.ok(ok > 1000, `${ok} accepted`)
    assert.ok(apart.length < rcpts.length / 100, `${apart.length} apart: ${apart.slice(0, 5)}`)
  })

  it('takes the client address as Haraka hands it: blanks make it no IP address', async () => {
    await ask(v.page, { files: { relay_acl_allow: '192.0.2.0/24\n' }, ip: ' 192.0.2.7', rcpts: ['a@example.com'] })
    let page = await readPage(v.page)
    assert.equal(page.client.relay, false)
    assert.match(page.client.text, /^Not an IP address\. ' 192\.0\.2\.7' is not an IP address/)
    await ask(v.page, { ip: '192.0.2.7' })
    page = await readPage(v.page)
    assert.equal(page.client.relay, true)
  })

  it('fits a narrow screen', async () => {
    await v.page.setViewportSize({ width: 360, height: 800 })
    const overflow = await v.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    assert.ok(overflow <= 0, `${overflow}px wider than the screen`)
    await v.page.setViewportSize({ width: 1000, height: 900 })
  })

  it('saves a screenshot', async () => {
    await ask(v.page, {
      files: {
        'relay.ini': RELAY_INI.replace('all=false', 'all=true'),
        relay_acl_allow: '# office\n192.0.2.0/24\n10.0.0.1/33\n',
        'relay_dest_domains.ini': DOMAINS,
      },
      ip: '203.0.113.5',
      auth: false,
      rcpts: ['a@example.com', 'victim@elsewhere.example', 'b@example.net'],
    })
    await v.page.evaluate(() => {
      document.activeElement?.blur()
      window.scrollTo(0, 0)
    })
    fs.mkdirSync(path.dirname(SHOT), { recursive: true })
    await v.page.screenshot({ path: SHOT, fullPage: true })
    assert.ok(fs.statSync(SHOT).size > 10000)
    assert.equal(await v.page.locator('#notice').textContent(), '')
    assert.match(await v.page.locator('#alerts').textContent(), /Open relay.*relay\.ini:5/)
    if (process.env.UPDATE_SCREENSHOT) fs.copyFileSync(SHOT, path.join(REPO, 'docs', 'relay-validator.png'))
  })

  it('made no request but for the page itself, and no script error', () => {
    assert.deepEqual([...new Set(v.requests)], [v.url])
    assert.deepEqual(v.errors, [])
  })
})
