'use strict'
// One set of configs and client questions, three answerers: the Haraka
// plugin (index.js driven hook by hook as Haraka runs them), relay-check
// (--format json) and the validator page in chromium. Their diagnostics and
// their decisions must be the same.
//
//   node --test test/agree.test.js

process.env.WITHOUT_CONFIG_CACHE = '1'

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const fixtures = require('haraka-test-fixtures')
const { OK, DENY, DENYSOFT } = require('haraka-constants')

const { openValidator, ask, readPage } = require('./support/browser')
const { harakaRcpt, UNICODE_RCPTS } = require('./support/haraka-rcpt')
const { Haraka, freePort, transaction } = require('./lib/haraka')
const { maskRoute } = require('../js/safe-text')
const { formatDiagnostic } = require('../js/config-text')

const REPO = path.resolve(__dirname, '..')
const CLI = path.join(REPO, 'js', 'cli.js')
const FILES = ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']
const LOG_LEVELS = ['logdebug', 'loginfo', 'lognotice', 'logwarn', 'logerror', 'logcrit', 'logalert', 'logemerg']

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-agree-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const DOMAINS = [
  '[domains]',
  'accept.example = { "action": "accept", "nexthop": "192.0.2.25:2525" }',
  'Continue.Example = { "action": "continue" }',
  'deny.example = { "action": "deny", "nexthop": "[2001:db8::25]:25" }',
  'route-only.example = { "nexthop": ["192.0.2.30", "lmtp://192.0.2.31:24"] }',
  'broken.example = { "action": "accept", ',
  'badhop.example = { "action": "accept", "nexthop": "host:0" }',
  'odd.example = { "action": "maybe" }',
  // deny holds; the route the broken line meant is not known: deferred
  'twice.example = { "action": "deny" }',
  'Twice.Example = { "action": "accept", ',
  'any = { "nexthop": "smtp://relay:secret@192.0.2.99:587" }',
  '',
].join('\n')

const ACL = ['# office', '192.0.2.0/24', '  2001:db8:1::/48', '198.51.100.7', '10.0.0.1/33', '192.0.2.9/24', 'not-an-ip', '192.0.2.128/25', ''].join('\n')

const RCPTS = [
  'a@accept.example',
  'victim@elsewhere.example',
  'b@continue.example',
  'c@DENY.example',
  'd@route-only.example',
  'e@broken.example',
  'f@badhop.example',
  'g@odd.example',
  'i@twice.example',
  'postmaster',
  'h@accept.example',
]

const QUESTIONS = [
  { ip: '192.0.2.200', auth: false, rcpts: RCPTS },
  { ip: '203.0.113.5', auth: false, rcpts: RCPTS },
  { ip: '203.0.113.5', auth: true, rcpts: RCPTS.slice(0, 4) },
  { ip: '::ffff:198.51.100.7', auth: false, rcpts: RCPTS.slice(0, 3) },
  { ip: '2001:db8:1::77', auth: false, rcpts: ['x@elsewhere.example'] },
  { ip: '2001:db8:2::77', auth: false, rcpts: ['x@elsewhere.example', 'y@continue.example'] },
]

const SCENARIOS = {
  'dest_domains and force_routing on': {
    'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\nall=false\n',
    relay_acl_allow: ACL,
    'relay_dest_domains.ini': DOMAINS,
  },
  'continue with all=true, CRLF lines, unknown keys': {
    'relay.ini': '[relay]\r\ndest_domains = yes\r\nall = ON\r\nforce_routing = perhaps\r\ncolour = blue\r\n',
    relay_acl_allow: '192.0.2.0/24\r\n',
    'relay_dest_domains.ini': DOMAINS.replace(/\n/g, '\r\n'),
  },
  'acl off, all on, dest_domains off: an open relay': {
    'relay.ini': '[relay]\nacl=false\nall=true\n',
    relay_acl_allow: '0.0.0.0/0\n::/0\n',
    'relay_dest_domains.ini': DOMAINS,
  },
  'the defaults, an ACL only': {
    relay_acl_allow: ACL,
  },
}

let dirCount = 0
function configDir(files) {
  const dir = path.join(tmpRoot, `s${++dirCount}`)
  fs.mkdirSync(path.join(dir, 'config'), { recursive: true })
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'config', name), text)
  return dir
}

/* ---- the plugin, hook by hook, as Haraka calls it ---- */

function makePlugin(dir) {
  const plugin = new fixtures.plugin('relay-wasm')
  plugin.config = plugin.config.module_config(dir)
  plugin.logs = []
  for (const level of LOG_LEVELS) {
    plugin[level] = (...args) => plugin.logs.push([level, args.filter((a) => typeof a !== 'object').join(' ')])
  }
  plugin.register()
  return plugin
}

const hook = (plugin, method, ...args) => fixtures.callHook(plugin, method, ...args)

async function pluginAnswers(plugin, { ip, auth, rcpts }) {
  const c = fixtures.makeConnection({ ip, silent: true })
  for (const m of plugin.hooks.connect_init) await hook(plugin, m, c)
  const byAcl = c.relaying
  for (const m of plugin.hooks.connect) await hook(plugin, m, c)
  if (auth) c.relaying = true // what a successful SMTP AUTH does
  const client = { relay: c.relaying, why: byAcl ? 'acl' : auth ? 'auth' : 'none' }
  c.init_transaction()
  const recipients = []
  for (const text of rcpts) {
    // Haraka's cmd_rcpt: an address its parser refuses is answered 501
    // before any rcpt hook runs
    const parsed = harakaRcpt(text)
    if (parsed.code) {
      recipients.push({ accepted: false, code: parsed.code, message: parsed.message, route: 'none', nexthop: null })
      continue
    }
    const addr = parsed.address
    c.transaction.rcpt_to.push(addr)
    // the rcpt hooks in the order the plugin registered them; the first
    // answer other than CONT ends the phase (Haraka's run_hooks)
    let res = { rc: undefined, msg: undefined }
    for (const m of plugin.hooks.rcpt) {
      res = await fixtures.callRcpt(plugin, c, addr, {}, m)
      if (res.rc !== undefined) break
    }
    // Haraka's rcpt_respond
    let rc = res.rc
    if (rc === undefined && c.relaying) rc = OK
    const r = { accepted: false, code: 550, message: res.msg ?? '', route: 'none', nexthop: null }
    if (rc === OK) {
      Object.assign(r, { accepted: true, code: 250, message: res.msg || `recipient ${addr.format()} OK` })
    } else if (rc === DENY) {
      c.transaction.rcpt_to.pop()
    } else if (rc === DENYSOFT) {
      r.code = 450
      c.transaction.rcpt_to.pop()
    } else {
      r.message = `I cannot deliver mail for ${addr.format()}`
      c.transaction.rcpt_to.pop()
    }
    if (r.accepted) {
      // outbound asks get_mx for the recipient's domain
      const mx = await hook(plugin, plugin.hooks.get_mx[0], { todo: {} }, addr.host ?? '')
      // outbound is handed the route itself; relay-check and the page show
      // it with its password masked (issue 10)
      if (mx.rc === OK) Object.assign(r, { route: 'nexthop', nexthop: maskRoute(mx.msg) })
      else if (mx.rc === DENYSOFT) r.route = 'invalid'
      else r.route = 'mx'
    }
    recipients.push(r)
  }
  return { client, recipients }
}

function pluginDiagnostics(plugin) {
  return plugin.logs.filter(([level, m]) => ['logerror', 'logwarn', 'loginfo'].includes(level) && /^relay[\w.]*:\d+(:\d+)?: /.test(m)).map(([, m]) => m)
}

/* ---- relay-check ---- */

function cliRun(dir, q) {
  const args = [CLI, path.join(dir, 'config'), '--format', 'json']
  if (q) {
    args.push('--ip', q.ip)
    if (q.auth) args.push('--auth')
    for (const r of q.rcpts) args.push('--rcpt', r)
  }
  return spawnSync(process.execPath, args, { encoding: 'utf8' })
}

function cli(dir, q) {
  const r = cliRun(dir, q)
  assert.ok(r.status === 0 || r.status === 1, r.stderr)
  return JSON.parse(r.stdout)
}

/* ---- the common shape ---- */

// the plugin logs a diagnostic as relay-check prints it (one formatter)
const asLog = (d) => formatDiagnostic(d)

function shape(decision) {
  return {
    client: { relay: decision.client.relay, why: decision.client.why },
    recipients: decision.recipients.map((r) => ({
      accepted: r.accepted,
      code: r.code,
      message: r.message,
      route: typeof r.route === 'string' ? r.route : r.route ? r.route.status : 'none',
      // what outbound is handed: the plugin's get_mx answer; relay-check's
      // and the page's `outbound` (the nexthop as written where that is it)
      nexthop: typeof r.route === 'string' ? (r.outbound ?? r.nexthop) : (r.route?.outbound ?? r.route?.nexthop ?? null),
    })),
  }
}

describe('the plugin, relay-check and the page agree', () => {
  const seen = new Set() // what the answers covered, so the comparison is not vacuous
  let v
  before(async () => {
    v = await openValidator()
  })
  after(async () => {
    await v?.close()
  })

  for (const [name, files] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      const dir = configDir(files)
      const plugin = makePlugin(dir)
      const texts = Object.fromEntries(FILES.map((f) => [f, files[f] ?? '']))

      // diagnostics
      const fromPlugin = pluginDiagnostics(plugin)
      const fromCli = cli(dir).diagnostics
      await ask(v.page, { files: texts })
      const fromPage = (await readPage(v.page)).diagnostics
      assert.deepEqual(fromCli.map(asLog), fromPlugin, 'relay-check and the plugin log')
      for (const d of fromCli) seen.add(`diag ${d.severity}`)
      assert.deepEqual(
        fromPage,
        fromCli.map(({ file, line, column, severity, code, message }) => ({ file, line, column, severity, code, message })),
        'the page and relay-check',
      )

      // decisions
      for (const q of QUESTIONS) {
        const want = await pluginAnswers(plugin, q)
        seen.add(`client ${want.client.why}`)
        for (const r of want.recipients) seen.add(`${r.code} ${r.message.replace(/<.*>/, '<>')} ${r.route}`)
        const label = `${q.ip}${q.auth ? ' (auth)' : ''}`
        assert.deepEqual(shape(cli(dir, q).decision), want, `relay-check and the plugin for ${label}`)
        await ask(v.page, { ip: q.ip, auth: q.auth, rcpts: q.rcpts })
        const page = await readPage(v.page)
        assert.deepEqual(shape(page), want, `the page and the plugin for ${label}`)
      }
    })
  }

  // Haraka maps a recipient domain (UTS-46) or refuses the address (501)
  // before the plugin sees it; the three must read it the same way
  const LISTED = ['xn--bcher-kva.example', 'good.example', 'xn--fa-hia.example', 'ix.example']
  const UNICODE_FILES = {
    'relay.ini': '[relay]\ndest_domains=true\nforce_routing=true\n',
    relay_acl_allow: '192.0.2.0/24\n',
    'relay_dest_domains.ini': `[domains]\n${LISTED.map((d) => `${d} = { "action": "accept", "nexthop": "192.0.2.25" }`).join('\n')}\ngood.example. = { "action": "accept" }\n`,
  }

  it('Unicode recipient domains, trailing dots and addresses Haraka refuses', async () => {
    const dir = configDir(UNICODE_FILES)
    const plugin = makePlugin(dir)
    await ask(v.page, { files: UNICODE_FILES })
    for (const q of [
      { ip: '203.0.113.5', auth: false, rcpts: UNICODE_RCPTS },
      { ip: '192.0.2.9', auth: false, rcpts: UNICODE_RCPTS },
    ]) {
      const want = await pluginAnswers(plugin, q)
      for (const r of want.recipients) seen.add(`${r.code} ${r.message.replace(/<.*>.*/, '<>')} ${r.route}`)
      // the expectation is Haraka's own reading, not a copy of ours
      UNICODE_RCPTS.forEach((text, i) => {
        const h = harakaRcpt(text)
        // good.example. is listed too: u@good.example。 arrives as that name
        const code = h.code ?? (q.ip.startsWith('192.0.2.') || [...LISTED, 'good.example.'].includes(h.host) ? 250 : 550)
        assert.equal(want.recipients[i].code, code, `${q.ip} ${JSON.stringify(text)}`)
      })
      assert.deepEqual(shape(cli(dir, q).decision), want, `relay-check and the plugin for ${q.ip}`)
      await ask(v.page, { ip: q.ip, auth: q.auth, rcpts: q.rcpts })
      assert.deepEqual(shape(await readPage(v.page)), want, `the page and the plugin for ${q.ip}`)
    }
    // the key with a trailing dot is warned about by all three
    const fromCli = cli(dir).diagnostics
    assert.ok(fromCli.some((d) => d.code === 'dest-bad-domain' && d.line === 6), JSON.stringify(fromCli))
    assert.deepEqual(fromCli.map(asLog), pluginDiagnostics(plugin))
    assert.deepEqual((await readPage(v.page)).diagnostics.map(asLog), fromCli.map(asLog))
  })

  // issue 11: the route relay-check approves is the one Haraka is handed
  // (an [IPv6] URL host as outbound can use it, section 2); a route that
  // cannot be read leaves the action as written and defers only with
  // force_routing on, naming the bad element (section 3); a listed domain
  // without a nexthop goes by MX, `any` is for domains without an entry
  // (section 4)
  it('issue 11: [IPv6] URL routes, a bad element of a route, a listed domain without a nexthop', async () => {
    const domains = [
      '[domains]',
      'v6.example = {"action":"accept","nexthop":"smtp://[::1]:2525"}',
      'v6lmtp.example = {"action":"accept","nexthop":"lmtp://[::1]:2525"}',
      'arr.example = {"action":"accept","nexthop":["127.0.0.1:25","bad host"]}',
      'listed.example = {"action":"accept"}',
      'slash.example = {"action":"accept","nexthop":"smtp://127.0.0.1:2601/@127.0.0.1:2602"}',
      'any = {"nexthop":"smarthost.example:25"}',
      '',
    ].join('\n')
    const rcpts = ['u@v6.example', 'u@v6lmtp.example', 'u@arr.example', 'u@listed.example', 'u@slash.example', 'u@unlisted.example']
    const q = { ip: '203.0.113.5', auth: false, rcpts }
    const qAcl = { ip: '192.0.2.7', auth: false, rcpts: ['u@unlisted.example'] }
    for (const force of [true, false]) {
      const files = {
        'relay.ini': `[relay]\ndest_domains=true\nforce_routing=${force}\n`,
        relay_acl_allow: '192.0.2.0/24\n',
        'relay_dest_domains.ini': domains,
      }
      const dir = configDir(files)
      const plugin = makePlugin(dir)
      const want = await pluginAnswers(plugin, q)
      const wantAcl = await pluginAnswers(plugin, qAcl)
      const v6 = { exchange: '::1', port: 2525 }
      const expected = force
        ? [[250, 'nexthop', v6], [250, 'nexthop', { ...v6, using_lmtp: true }], [250, 'invalid', null], [250, 'mx', null], [250, 'invalid', null], [550, 'none', null]]
        : [[250, 'mx', null], [250, 'mx', null], [250, 'mx', null], [250, 'mx', null], [250, 'mx', null], [550, 'none', null]]
      assert.deepEqual(want.recipients.map((r) => [r.code, r.route, r.nexthop]), expected, `force_routing=${force}`)
      assert.deepEqual(wantAcl.recipients.map((r) => [r.code, r.route, r.nexthop]), [[250, force ? 'nexthop' : 'mx', force ? 'smarthost.example:25' : null]])
      // the bad element is named, at the severity force_routing gives it
      const fromCli = cli(dir).diagnostics
      const bad = fromCli.filter((d) => d.code === 'dest-bad-nexthop')
      assert.deepEqual(bad.map((d) => [d.line, d.severity]), [[4, force ? 'error' : 'warning'], [6, force ? 'error' : 'warning']])
      assert.match(bad[0].message, /element 2 of 2/)
      assert.deepEqual(fromCli.map(asLog), pluginDiagnostics(plugin), 'relay-check and the plugin log')
      const decision = cli(dir, q).decision
      assert.deepEqual(shape(decision), want, `relay-check and the plugin, force_routing=${force}`)
      assert.deepEqual(shape(cli(dir, qAcl).decision), wantAcl)
      if (force) {
        // relay-check says which element is bad, as the plugin's log does
        assert.match(decision.recipients[2].route.explain, /element 2 of 2.*bad character in host name/)
        const r = await hook(plugin, plugin.hooks.get_mx[0], { todo: {} }, 'arr.example')
        assert.match(r.msg, /element 2 of 2.*bad character in host name/)
      }
      await ask(v.page, { files })
      assert.deepEqual((await readPage(v.page)).diagnostics.map(asLog), fromCli.map(asLog), 'the page and relay-check')
      await ask(v.page, q)
      assert.deepEqual(shape(await readPage(v.page)), want, `the page and the plugin, force_routing=${force}`)
      await ask(v.page, qAcl)
      assert.deepEqual(shape(await readPage(v.page)), wantAcl)
    }
  })

  it('a client address with blanks is no IP address to any of the three', async () => {
    const dir = configDir({ relay_acl_allow: '192.0.2.0/24\n', 'relay.ini': '[relay]\nall=false\n' })
    const plugin = makePlugin(dir)
    await ask(v.page, { files: { 'relay.ini': '[relay]\nall=false\n', relay_acl_allow: '192.0.2.0/24\n', 'relay_dest_domains.ini': '' } })
    for (const ip of [' 192.0.2.9', '192.0.2.9 ', '192.0.2.9\t', '192.0.2.9']) {
      const q = { ip, auth: false, rcpts: ['x@elsewhere.example'] }
      const want = await pluginAnswers(plugin, q)
      const r = cliRun(dir, q)
      if (ip.trim() !== ip) {
        assert.equal(want.client.relay, false, JSON.stringify(ip))
        assert.equal(r.status, 2, `${JSON.stringify(ip)}: ${r.stdout}`)
        assert.match(r.stderr, /is not an IPv4 or IPv6 address/)
      } else {
        assert.equal(want.client.relay, true)
        assert.deepEqual(shape(JSON.parse(r.stdout).decision), want)
      }
      await ask(v.page, { ip, rcpts: q.rcpts })
      assert.deepEqual(shape(await readPage(v.page)), want, `the page and the plugin for ${JSON.stringify(ip)}`)
    }
  })

  it('files with bytes that are not UTF-8: the same text, warnings and answers from all three', async () => {
    const files = {
      'relay.ini': Buffer.from('[relay]\n; r\xe9glages\ndest_domains=true\n', 'latin1'),
      relay_acl_allow: Buffer.from('# caf\xe9\r\n192.0.2.0/24\n10.0.0.\xff\n', 'latin1'),
      'relay_dest_domains.ini': Buffer.from('[domains]\n# \xc3\x28 \xf0\x9f\n b\xfccher.example = {"action":"accept"}\ngood.example = {"action":"accept","x":"\xe9"}\n', 'latin1'),
    }
    const dir = configDir(files)
    const plugin = makePlugin(dir)
    const fromCli = cli(dir).diagnostics
    assert.deepEqual(
      fromCli.filter((d) => d.code === 'text-encoding').map((d) => `${d.file}:${d.line}:${d.column}`),
      ['relay.ini:2:4', 'relay_acl_allow:1:6', 'relay_acl_allow:3:8', 'relay_dest_domains.ini:2:3', 'relay_dest_domains.ini:3:3', 'relay_dest_domains.ini:4:40'],
    )
    assert.deepEqual(fromCli.map(asLog), pluginDiagnostics(plugin), 'relay-check and the plugin log')
    // the page, given the same files as bytes
    await v.page.evaluate((list) => {
      const dt = new DataTransfer()
      for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name))
      document.querySelector('.editor[data-file="relay.ini"] .code').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    }, Object.entries(files).map(([name, b]) => ({ name, bytes: [...b] })))
    await v.page.waitForFunction(() => /relay_dest_domains\.ini opened in relay_dest_domains\.ini/.test(document.getElementById('notice').textContent))
    await v.page.waitForSelector('html:not([data-busy])')
    const fromPage = (await readPage(v.page)).diagnostics
    assert.deepEqual(fromPage.map(asLog), fromCli.map(asLog), 'the page and relay-check')
    for (const q of [
      { ip: '192.0.2.9', auth: false, rcpts: ['a@elsewhere.example'] },
      { ip: '203.0.113.5', auth: false, rcpts: ['a@good.example', 'b@bücher.example', 'c@b\ufffdcher.example'] },
    ]) {
      const want = await pluginAnswers(plugin, q)
      assert.deepEqual(shape(cli(dir, q).decision), want)
      await ask(v.page, { ip: q.ip, auth: q.auth, rcpts: q.rcpts })
      assert.deepEqual(shape(await readPage(v.page)), want)
    }
  })

  it('the answers covered every kind of outcome', () => {
    for (const kind of [
      'diag error',
      'diag warning',
      'diag info',
      'client acl',
      'client auth',
      'client none',
      '250 recipient <> OK nexthop',
      '250 recipient <> OK mx',
      '250 recipient <> OK invalid',
      '550 You are not allowed to relay none',
      '550 Mail for that recipient is not accepted here. none',
      '550 I cannot deliver mail for <> none',
      '501 Invalid RCPT TO address <> none',
    ]) {
      assert.ok(seen.has(kind), `no case of ${kind} in ${[...seen].join(' | ')}`)
    }
  })

  it('the page made no request', () => {
    assert.deepEqual([...new Set(v.requests)], [v.url])
    assert.deepEqual(v.errors, [])
  })
})

describe('a real Haraka reads Unicode recipients as the three do', { timeout: 60000 }, () => {
  const ROWS = ['u@BÜCHER.example', 'u@ｇｏｏｄ.example', 'u@good。example', 'u@good｡example', 'u@good.example.', 'u@\u0301good.example', 'u@good.example。', 'u@xn--zz.example']
  const FILES_ = {
    'relay.ini': '[relay]\ndest_domains=true\n',
    relay_acl_allow: '127.0.0.2\n',
    'relay_dest_domains.ini': '[domains]\nxn--bcher-kva.example = { "action": "accept" }\ngood.example = { "action": "accept" }\n',
  }
  let haraka
  let port
  before(async () => {
    port = await freePort()
    haraka = new Haraka({ name: 'agree-idn', listen: [`127.0.0.1:${port}`], plugins: ['relay-wasm', 'queue/discard'], files: FILES_ })
    await haraka.start()
  })
  after(async () => {
    await haraka?.stop()
  })

  it('the same codes, and for a 501 the same reason', async () => {
    const dir = configDir(FILES_)
    const ours = cli(dir, { ip: '127.0.0.3', auth: false, rcpts: ROWS }).decision.recipients
    const r = await transaction(port, '127.0.0.3', ROWS)
    const texts = r.texts.map((t) => Buffer.from(t, 'latin1').toString('utf8'))
    assert.deepEqual(r.codes, ours.map((x) => x.code))
    assert.deepEqual(r.codes, [250, 250, 250, 250, 501, 501, 550, 550])
    ROWS.forEach((row, i) => {
      if (r.codes[i] === 501) assert.equal(texts[i], ours[i].message, row)
    })
  })
})
