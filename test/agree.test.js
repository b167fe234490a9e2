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
    const addr = fixtures.hooks.toAddress(text)
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
      if (mx.rc === OK) Object.assign(r, { route: 'nexthop', nexthop: mx.msg })
      else if (mx.rc === DENYSOFT) r.route = 'invalid'
      else r.route = 'mx'
    }
    recipients.push(r)
  }
  return { client, recipients }
}

function pluginDiagnostics(plugin) {
  return plugin.logs.filter(([level, m]) => ['logerror', 'logwarn', 'loginfo'].includes(level) && /^relay[\w.]*:\d+: /.test(m)).map(([, m]) => m)
}

/* ---- relay-check ---- */

function cli(dir, q) {
  const args = [CLI, path.join(dir, 'config'), '--format', 'json']
  if (q) {
    args.push('--ip', q.ip)
    if (q.auth) args.push('--auth')
    for (const r of q.rcpts) args.push('--rcpt', r)
  }
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' })
  assert.ok(r.status === 0 || r.status === 1, r.stderr)
  return JSON.parse(r.stdout)
}

/* ---- the common shape ---- */

const asLog = (d) => `${d.file}:${d.line}: ${d.severity}: ${d.message} [${d.code}]`

function shape(decision) {
  return {
    client: { relay: decision.client.relay, why: decision.client.why },
    recipients: decision.recipients.map((r) => ({
      accepted: r.accepted,
      code: r.code,
      message: r.message,
      route: typeof r.route === 'string' ? r.route : r.route ? r.route.status : 'none',
      nexthop: typeof r.route === 'string' ? r.nexthop : (r.route?.nexthop ?? null),
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
    ]) {
      assert.ok(seen.has(kind), `no case of ${kind} in ${[...seen].join(' | ')}`)
    }
  })

  it('the page made no request', () => {
    assert.deepEqual([...new Set(v.requests)], [v.url])
    assert.deepEqual(v.errors, [])
  })
})
