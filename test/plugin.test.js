'use strict'
// Unit tests of index.js as a Haraka plugin, driven through
// haraka-test-fixtures with config files written into a temp dir.
//
//   node --test test/plugin.test.js

// read config files from disk on every config.get (the test writes them and
// then runs the plugin's reload callback itself, like Haraka's watcher does)
process.env.WITHOUT_CONFIG_CACHE = '1'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, describe, it } = require('node:test')

const { Address } = require('address-rfc2821')
const fixtures = require('haraka-test-fixtures')
const { OK, CONT, DENY, DENYSOFT } = require('haraka-constants')

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-plugin-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const LOG_LEVELS = ['logdebug', 'loginfo', 'lognotice', 'logwarn', 'logerror', 'logcrit', 'logalert', 'logemerg']

let dirCount = 0
function configDir(files) {
  const dir = path.join(tmpRoot, `c${++dirCount}`)
  fs.mkdirSync(path.join(dir, 'config'), { recursive: true })
  for (const [name, text] of Object.entries(files)) {
    if (text !== null) fs.writeFileSync(path.join(dir, 'config', name), text)
  }
  return dir
}

// A registered plugin whose config is `files` (null = file absent). Log calls
// are recorded in plugin.logs as [level, message].
function makePlugin(files, name = 'relay-wasm') {
  const dir = configDir(files)
  const plugin = new fixtures.plugin(name)
  plugin.config = plugin.config.module_config(dir)
  plugin.logs = []
  for (const level of LOG_LEVELS) {
    plugin[level] = (...args) => plugin.logs.push([level, args.filter((a) => typeof a !== 'object').join(' ')])
  }
  plugin.configDir = path.join(dir, 'config')
  plugin.register()
  return plugin
}

// The plugin's own watchers closed: the test itself says when a file is
// looked at (a watch event during a look makes that look stale).
function unwatched(plugin) {
  for (const w of plugin.watchers) w.close()
  return plugin
}

// Write a file and run the callback Haraka's watcher runs on a change.
function rewrite(plugin, file, text) {
  fs.writeFileSync(path.join(plugin.configDir, file), text)
  plugin.load_relay_file(file)
}

function conn(ip = '192.0.2.1', opts = {}) {
  return fixtures.makeConnection({ ip, silent: true, ...opts })
}

const hook = (plugin, method, ...args) => fixtures.callHook(plugin, method, ...args)
const rcpt = (plugin, c, addr, method = 'rcpt') => fixtures.callRcpt(plugin, c, addr, {}, method)
// One RCPT as Haraka runs it (connection.js cmd_rcpt and rcpt_respond): the
// address joins rcpt_to, the rcpt hook answers, CONT with relaying set
// becomes OK, then rcpt_ok (accepted) or deny (refused) hooks run and a
// refused address leaves rcpt_to. Returns { rc, msg, final } where final
// is 250 or 550/450.
async function harakaRcpt(plugin, c, addr) {
  const address = new Address(`<${addr}>`)
  c.transaction.rcpt_to.push(address)
  const r = await hook(plugin, 'rcpt', c, [address, {}])
  let final = r.rc
  if ((final === undefined || final === CONT) && c.relaying) final = OK
  if (final === OK) {
    await hook(plugin, 'end_recipient_grant', c, address)
    return { ...r, final: 250 }
  }
  if (final === DENY || final === DENYSOFT) await hook(plugin, 'end_recipient_grant', c, [final, r.msg])
  c.transaction.rcpt_to.pop()
  return { ...r, final: final === DENYSOFT ? 450 : 550 }
}

const result = (store, plugin) => store.get(plugin.name) ?? { pass: [], fail: [], skip: [], err: [] }

const { relayIni: RELAY } = require('./support/relay-ini')

const DOMAINS = [
  '[domains]',
  'accept.example = { "action": "accept" }',
  'continue.example = { "action": "continue", "nexthop": "192.0.2.25:2525" }',
  'deny.example = { "action": "deny" }',
  'route-only.example = { "nexthop": "192.0.2.26" }',
  'broken.example = { "action": "accept", ',
  'multi.example = { "action": "accept", "nexthop": ["192.0.2.30", "192.0.2.31:2525"] }',
  '',
].join('\n')

const ACL = ['# test acl', '192.0.2.0/24', '2001:db8:1::/48', '198.51.100.7', ''].join('\n')

describe('register', () => {
  it('registers every hook whatever relay.ini says; rcpt runs dest_domains, then all', () => {
    const plugin = makePlugin({ 'relay.ini': RELAY({ acl: false }) })
    assert.deepEqual(plugin.hooks, {
      connect_init: ['acl'],
      connect: ['pass_relaying'],
      rcpt: ['rcpt'],
      rcpt_ok: ['end_recipient_grant'],
      deny: ['end_recipient_grant'],
      data: ['relay_granted_message'],
      get_mx: ['force_routing'],
    })
  })

  it('rcpt: a dest_domains answer stands; all only sees what dest_domains left open', async () => {
    const plugin = makePlugin({ 'relay.ini': RELAY({ dest_domains: true, all: true }), 'relay_dest_domains.ini': DOMAINS })
    const c1 = conn('203.0.113.9', { withTxn: true })
    assert.equal((await rcpt(plugin, c1, 'u@unlisted.example', 'rcpt')).rc, DENY)
    const c2 = conn('203.0.113.9', { withTxn: true })
    assert.equal((await rcpt(plugin, c2, 'u@accept.example', 'rcpt')).rc, OK)
    // continue: dest_domains says CONT, then all=true vouches
    const c3 = conn('203.0.113.9', { withTxn: true })
    assert.equal((await rcpt(plugin, c3, 'u@continue.example', 'rcpt')).rc, OK)
    // dest_domains off: all=true accepts anything
    rewrite(plugin, 'relay.ini', RELAY({ all: true }))
    assert.equal((await rcpt(plugin, conn('203.0.113.9', { withTxn: true }), 'u@unlisted.example', 'rcpt')).rc, OK)
    rewrite(plugin, 'relay.ini', RELAY({}))
    assert.equal((await rcpt(plugin, conn('203.0.113.9', { withTxn: true }), 'u@unlisted.example', 'rcpt')).rc, undefined)
  })

  it('uses the defaults when no file exists (acl on, the rest off)', () => {
    const plugin = makePlugin({ 'relay.ini': null, relay_acl_allow: null, 'relay_dest_domains.ini': null })
    assert.deepEqual(plugin.engine.settings(), { acl: true, force_routing: false, dest_domains: false, all: false })
  })

  it('logs diagnostics as file:line: severity: message [code]', () => {
    const plugin = makePlugin({
      'relay.ini': RELAY({ dest_domains: true }),
      relay_acl_allow: 'not-an-address\n',
      'relay_dest_domains.ini': DOMAINS,
    })
    const errors = plugin.logs.filter(([l]) => l === 'logerror').map(([, m]) => m)
    assert.ok(
      errors.some((m) => /^relay_acl_allow:1(:\d+)?: error: .+ \[[\w-]+\]$/.test(m)),
      `no diagnostic for relay_acl_allow line 1 in ${JSON.stringify(errors)}`,
    )
    assert.ok(
      errors.some((m) => /^relay_dest_domains\.ini:6: error: .+ \[[\w-]+\]$/.test(m)),
      `no diagnostic for relay_dest_domains.ini line 6 in ${JSON.stringify(errors)}`,
    )
    // a reload of one file logs that file's diagnostics again
    plugin.logs.length = 0
    plugin.load_relay_file('relay_acl_allow')
    assert.ok(plugin.logs.some(([l, m]) => l === 'logerror' && /^relay_acl_allow:1(:\d+)?: error: /.test(m)))
  })
})

describe('reading the files', () => {
  it('an empty relay_acl_allow in Haraka\'s config/ overrides the shipped loopback default', async () => {
    // Haraka gives a packaged plugin module_config(<plugin dir>, <haraka dir>):
    // the plugin's config/ holds defaults, Haraka's config/ the overrides
    const defaults = configDir({ relay_acl_allow: '127.0.0.1/32\n' })
    const overrides = configDir({ relay_acl_allow: '' })
    const plugin = new fixtures.plugin('relay-wasm')
    plugin.config = plugin.config.module_config(defaults, overrides)
    plugin.register()
    const c = conn('127.0.0.1')
    assert.equal((await hook(plugin, 'acl', c)).rc, undefined)
    assert.equal(c.relaying, false)
    // and with no file there, the default applies
    fs.rmSync(path.join(overrides, 'config', 'relay_acl_allow'))
    plugin.load_relay_file('relay_acl_allow')
    assert.equal((await hook(plugin, 'acl', conn('127.0.0.1'))).rc, OK)
  })

  it('hands the engine the raw text: CRLF and CR line ends keep line numbers', () => {
    const plugin = makePlugin({ relay_acl_allow: '192.0.2.1\r\n\r\nbad-one\rbad-two\r\n' })
    const lines = plugin.engine
      .diagnostics()
      .filter((d) => d.file === 'relay_acl_allow' && d.severity === 'error')
      .map((d) => d.line)
    assert.deepEqual(lines, [3, 4])
  })
})

describe('acl', () => {
  const plugin = makePlugin({ 'relay.ini': RELAY(), relay_acl_allow: ACL })

  for (const [ip, listed] of [
    ['192.0.2.77', true],
    ['192.0.3.1', false],
    ['198.51.100.7', true],
    ['198.51.100.8', false],
    ['2001:db8:1:ffff::1', true],
    ['2001:db8:2::1', false],
    ['::ffff:192.0.2.9', true],
    ['::ffff:203.0.113.9', false],
    ['not an ip', false],
  ]) {
    it(`${ip} is ${listed ? '' : 'not '}allowed`, async () => {
      const c = conn(ip)
      const r = await hook(plugin, 'acl', c)
      assert.equal(c.relaying, listed)
      if (listed) {
        assert.equal(r.rc, OK)
        assert.deepEqual(result(c.results, plugin).pass, ['acl'])
        assert.equal((await hook(plugin, 'pass_relaying', c)).rc, OK)
      } else {
        assert.equal(r.rc, undefined)
        assert.deepEqual(result(c.results, plugin).skip, ['acl(unlisted)'])
        assert.equal((await hook(plugin, 'pass_relaying', c)).rc, undefined)
      }
    })
  }

  it('a bare IPv6 address is that one host (1.0.2 widened it to /32)', async () => {
    const p = makePlugin({ 'relay.ini': RELAY(), relay_acl_allow: '2001:db8::5\n' })
    const hit = conn('2001:db8::5')
    await hook(p, 'acl', hit)
    assert.equal(hit.relaying, true)
    const miss = conn('2001:db8:ffff::5')
    await hook(p, 'acl', miss)
    assert.equal(miss.relaying, false)
  })

  it('does nothing while acl=false', async () => {
    const p = makePlugin({ 'relay.ini': RELAY({ acl: false }), relay_acl_allow: ACL })
    const c = conn('192.0.2.77')
    assert.equal((await hook(p, 'acl', c)).rc, undefined)
    assert.equal(c.relaying, false)
  })
})

describe('dest_domains', () => {
  const plugin = makePlugin({ 'relay.ini': RELAY({ dest_domains: true }), 'relay_dest_domains.ini': DOMAINS })
  const txConn = () => conn('203.0.113.5', { withTxn: true })

  it('accept: OK and pass; the relaying flag is not set, so no other plugin sees it', async () => {
    const c = txConn()
    const r = await rcpt(plugin, c, 'user@accept.example')
    assert.equal(r.rc, OK)
    assert.equal(c.relaying, false)
    assert.deepEqual(result(c.transaction.results, plugin).pass, ['relay_dest_domain'])
  })

  it('domain lookup ignores case', async () => {
    const c = txConn()
    assert.equal((await rcpt(plugin, c, 'user@ACCEPT.Example')).rc, OK)
  })

  it('continue: CONT and pass, relaying only until the recipient is answered', async () => {
    const c = txConn()
    const r = await rcpt(plugin, c, 'user@continue.example')
    assert.equal(r.rc, undefined)
    // set for later rcpt plugins and Haraka's CONT -> 250 of this recipient
    assert.equal(c.relaying, true)
    assert.deepEqual(result(c.transaction.results, plugin).pass, ['relay_dest_domain'])
    await hook(plugin, 'end_recipient_grant', c) // rcpt_ok or deny
    assert.equal(c.relaying, false)
  })

  it('deny: DENY not allowed to relay, fail', async () => {
    const c = txConn()
    const r = await rcpt(plugin, c, 'user@deny.example')
    assert.equal(r.rc, DENY)
    assert.equal(r.msg, 'You are not allowed to relay')
    assert.equal(c.relaying, false)
    assert.deepEqual(result(c.transaction.results, plugin).fail, ['relay_dest_domain'])
  })

  it('unlisted: DENY not allowed to relay, fail', async () => {
    const c = txConn()
    const r = await rcpt(plugin, c, 'user@elsewhere.example')
    assert.equal(r.rc, DENY)
    assert.equal(r.msg, 'You are not allowed to relay')
    assert.deepEqual(result(c.transaction.results, plugin).fail, ['relay_dest_domain'])
  })

  it('an address without a domain is unlisted', async () => {
    const c = txConn()
    assert.equal((await rcpt(plugin, c, 'postmaster')).rc, DENY)
    const r = await hook(plugin, 'rcpt', c, [{ host: null }, {}])
    assert.equal(r.rc, DENY)
    assert.equal(r.msg, 'You are not allowed to relay')
  })

  it('an entry with a nexthop only: DENY not accepted here', async () => {
    const c = txConn()
    const r = await rcpt(plugin, c, 'user@route-only.example')
    assert.equal(r.rc, DENY)
    assert.equal(r.msg, 'Mail for that recipient is not accepted here.')
    assert.equal(c.relaying, false)
  })

  it('an unreadable entry: DENY not accepted here (fail closed; 1.0.2 threw)', async () => {
    const c = txConn()
    const r = await rcpt(plugin, c, 'user@broken.example')
    assert.equal(r.rc, DENY)
    assert.equal(r.msg, 'Mail for that recipient is not accepted here.')
    assert.equal(c.relaying, false)
    assert.deepEqual(result(c.transaction.results, plugin).fail, ['relay_dest_domain'])
  })

  it('no transaction (Haraka always has one at RCPT): decided all the same, nothing granted', async () => {
    const c = conn('203.0.113.5')
    assert.equal((await rcpt(plugin, c, 'user@deny.example')).rc, DENY)
    assert.equal((await rcpt(plugin, c, 'user@continue.example')).rc, undefined)
    assert.equal(c.relaying, false)
  })

  it('does nothing while dest_domains=false', async () => {
    const p = makePlugin({ 'relay.ini': RELAY(), 'relay_dest_domains.ini': DOMAINS })
    const c = txConn()
    assert.equal((await rcpt(p, c, 'user@deny.example')).rc, undefined)
    assert.equal(c.transaction.results.get(p.name), undefined)
  })
})

describe('per-recipient rule (the open-relay hole of 1.0.2)', () => {
  const files = { 'relay.ini': RELAY({ dest_domains: true }), 'relay_dest_domains.ini': DOMAINS }
  const plugin = makePlugin(files)

  for (const first of ['accept', 'continue']) {
    it(`${first}.example then an unlisted domain: the second is refused`, async () => {
      const c = conn('203.0.113.5', { withTxn: true })
      assert.equal((await harakaRcpt(plugin, c, `a@${first}.example`)).final, 250)
      // answered: no plugin deciding the next recipient sees relaying
      assert.equal(c.relaying, false)
      const r = await harakaRcpt(plugin, c, 'victim@elsewhere.example')
      assert.equal(r.rc, DENY)
      assert.equal(r.final, 550)
      assert.equal(r.msg, 'You are not allowed to relay')
      // and a deny entry stays a deny
      assert.equal((await harakaRcpt(plugin, c, 'b@deny.example')).final, 550)
      // listed domains are still decided by their own entries
      assert.equal((await harakaRcpt(plugin, c, 'c@accept.example')).final, 250)
      assert.equal((await harakaRcpt(plugin, c, 'd@route-only.example')).final, 550)
      assert.equal(c.relaying, false)
      // DATA: a granted recipient is in the transaction, so the message is
      // relayed mail and goes to the outbound queue, as with 1.0.2
      assert.equal((await hook(plugin, 'relay_granted_message', c)).rc, undefined)
      assert.equal(c.relaying, true)
    })
  }

  it('a new transaction starts afresh', async () => {
    const c = conn('203.0.113.5', { withTxn: true })
    await rcpt(plugin, c, 'a@accept.example')
    c.reset_transaction()
    c.init_transaction()
    assert.equal(c.relaying, false)
    assert.equal((await rcpt(plugin, c, 'x@elsewhere.example')).rc, DENY)
  })

  it('documented difference: haraka-plugin-relay 1.0.2 lets the second recipient through', async () => {
    const old = makePlugin(files, 'haraka-plugin-relay')
    const c = conn('203.0.113.5', { withTxn: true })
    assert.equal((await rcpt(old, c, 'a@accept.example', 'dest_domains')).rc, OK)
    const r = await rcpt(old, c, 'victim@elsewhere.example', 'dest_domains')
    // CONT with relaying set: Haraka's rcpt_respond turns it into 250
    assert.equal(r.rc, undefined)
    assert.equal(c.relaying, true)
    assert.deepEqual(result(c.transaction.results, old).skip, ['relay_dest_domain(relay)'])
  })

  it('relaying from the ACL covers every recipient', async () => {
    const p = makePlugin({ ...files, relay_acl_allow: ACL })
    const c = conn('192.0.2.10')
    assert.equal((await hook(p, 'acl', c)).rc, OK)
    c.init_transaction()
    for (const addr of ['a@elsewhere.example', 'b@deny.example', 'c@broken.example', 'd@accept.example']) {
      assert.equal((await rcpt(p, c, addr)).rc, undefined, addr)
    }
    assert.deepEqual(result(c.transaction.results, p).skip, Array(4).fill('relay_dest_domain(relay)'))
  })

  it('relaying from SMTP AUTH (or any other plugin) covers every recipient', async () => {
    const c = conn('203.0.113.5', { relaying: true })
    c.init_transaction()
    assert.equal((await rcpt(plugin, c, 'a@elsewhere.example')).rc, undefined)
    // also when another plugin set it inside the transaction
    const c2 = conn('203.0.113.5', { withTxn: true })
    c2.relaying = true
    assert.equal((await rcpt(plugin, c2, 'a@elsewhere.example')).rc, undefined)
  })
})

describe('force_routing', () => {
  const domains = [
    '[domains]',
    'routed.example = { "action": "continue", "nexthop": "192.0.2.25:2525" }',
    'multi.example = { "nexthop": ["192.0.2.30", "192.0.2.31:2525"] }',
    'accept-only.example = { "action": "accept" }',
    'badroute.example = { "action": "accept", "nexthop": 42 }',
    'any = { "nexthop": "smtp://192.0.2.99:587" }',
    '',
  ].join('\n')
  const plugin = makePlugin({ 'relay.ini': RELAY({ force_routing: true }), 'relay_dest_domains.ini': domains })
  const hmail = { todo: {} }
  const mx = (p, domain) => hook(p, 'force_routing', hmail, domain)

  it("a domain's own nexthop", async () => {
    assert.deepEqual(await mx(plugin, 'routed.example'), { rc: OK, msg: '192.0.2.25:2525' })
  })

  it('an array nexthop is handed on as an array', async () => {
    const r = await mx(plugin, 'multi.example')
    assert.equal(r.rc, OK)
    assert.deepEqual(r.msg, ['192.0.2.30', '192.0.2.31:2525'])
  })

  it('the `any` fallback for other domains', async () => {
    // a URL is handed on as the object Haraka 3 would read it into (Haraka 2.8 cannot read the text)
    assert.deepEqual(await mx(plugin, 'nowhere.example'), { rc: OK, msg: { exchange: '192.0.2.99', port: 587 } })
  })

  it('a broken route is deferred, never sent to the MX', async () => {
    const r = await mx(plugin, 'badroute.example')
    assert.equal(r.rc, DENYSOFT)
    assert.match(r.msg, /^invalid route for badroute\.example in relay_dest_domains\.ini line 5: nexthop must be a string/)
  })

  // issue 11 section 4: as in 1.0.2, Postfix and qmail, `any` is for
  // domains without an entry; a listed domain without a nexthop goes by MX
  it('a listed domain without a nexthop goes by MX, not to `any`', async () => {
    assert.deepEqual(await mx(plugin, 'accept-only.example'), { rc: undefined, msg: undefined })
    assert.deepEqual(await mx(plugin, 'Accept-Only.Example'), { rc: undefined, msg: undefined })
  })

  // issue 11 section 2: Haraka reads a URL's host with new URL(), which
  // keeps the brackets of an IPv6 address ([::1] is no address to
  // outbound); such a route is handed to get_mx as an object with the
  // address bare, the rest as HarakaMx.fromUrl reads it
  it('a URL route with an [IPv6] host is handed on as an object outbound can use', async () => {
    const HarakaMx = require('haraka-net-utils').HarakaMx
    const net = require('node:net')
    const p = makePlugin({
      'relay.ini': RELAY({ force_routing: true }),
      'relay_dest_domains.ini': [
        '[domains]',
        'v6.example = { "nexthop": "smtp://[::1]:2525" }',
        'v6lmtp.example = { "nexthop": ["lmtp://[2001:DB8::25]:24", "192.0.2.5", "smtp://192.0.2.6:26"] }',
        'v6auth.example = { "nexthop": "smtp://u:p@[::1]/" }',
        '',
      ].join('\n'),
    })
    const cases = {
      'v6.example': { exchange: '::1', port: 2525 },
      'v6lmtp.example': [{ exchange: '2001:db8::25', port: 24, using_lmtp: true }, '192.0.2.5', { exchange: '192.0.2.6', port: 26 }],
      // the password is there for outbound, but not enumerable: Haraka
      // logs the answer (JSON.stringify, a spread copy) without it
      'v6auth.example': { exchange: '::1', auth_user: 'u' },
    }
    for (const [domain, want] of Object.entries(cases)) {
      const r = await mx(p, domain)
      assert.equal(r.rc, OK, domain)
      assert.deepEqual(r.msg, want, domain)
      if (domain === 'v6auth.example') {
        assert.equal(r.msg.auth_pass, 'p')
        assert.equal(new HarakaMx(r.msg).auth_pass, 'p')
        assert.ok(!JSON.stringify(r.msg).includes('"p"'))
      }
      // as outbound reads the answer (hmail.get_mx_respond)
      for (const m of [].concat(r.msg)) assert.ok(net.isIP(new HarakaMx(m).exchange), `${domain}: ${JSON.stringify(m)}`)
    }
    // an object is what Haraka 3 makes of the URL itself (fromUrl), but the bracket of an IPv6 host
    const plain = makePlugin({ 'relay.ini': RELAY({ force_routing: true }), 'relay_dest_domains.ini': '[domains]\nu.example = { "nexthop": ["smtp://a:b%40c@mx.example:2525", "lmtp://192.0.2.7:24", "smtp://192.0.2.8"] }\n' })
    const r = await mx(plain, 'u.example')
    const urls = ['smtp://a:b%40c@mx.example:2525', 'lmtp://192.0.2.7:24', 'smtp://192.0.2.8']
    const fields = (m) => ({ ...m, auth_pass: m.auth_pass })
    for (const [i, m] of r.msg.entries()) {
      assert.equal(typeof m, 'object', urls[i])
      assert.deepEqual(fields(new HarakaMx(m)), fields(new HarakaMx(urls[i])), urls[i])
    }
  })

  // issue 11 section 3: the action decides the recipient as written; a
  // route that cannot be read affects routing only
  it('a route with a bad element: the recipient is accepted, the route deferred naming the element', async () => {
    const text = '[domains]\narr.example = {"action":"accept","nexthop":["127.0.0.1:25","bad host"]}\n'
    for (const force_routing of [false, true]) {
      const p = makePlugin({ 'relay.ini': RELAY({ dest_domains: true, force_routing }), 'relay_dest_domains.ini': text })
      const c = conn('203.0.113.5', { withTxn: true })
      assert.equal((await harakaRcpt(p, c, 'u@arr.example')).final, 250, `force_routing=${force_routing}`)
      const logged = p.logs.find(([, m]) => /\[dest-bad-nexthop\]$/.test(m))
      assert.ok(logged, JSON.stringify(p.logs))
      assert.equal(logged[0], force_routing ? 'logerror' : 'logwarn')
      assert.match(logged[1], /^relay_dest_domains\.ini:2: (error|warning): .*element 2 of 2/)
      const r = await mx(p, 'arr.example')
      if (!force_routing) {
        assert.deepEqual(r, { rc: undefined, msg: undefined })
        continue
      }
      assert.equal(r.rc, DENYSOFT)
      assert.match(r.msg, /^invalid route for arr\.example in relay_dest_domains\.ini line 2: .*element 2 of 2.*bad character in host name/)
      assert.ok(p.logs.some(([l, m]) => l === 'logerror' && /invalid route for arr\.example .*element 2 of 2/.test(m)), JSON.stringify(p.logs))
    }
  })

  it('no route and no `any`: normal MX lookup', async () => {
    const p = makePlugin({ 'relay.ini': RELAY({ force_routing: true }), 'relay_dest_domains.ini': DOMAINS })
    assert.deepEqual(await mx(p, 'nowhere.example'), { rc: undefined, msg: undefined })
    assert.deepEqual(await mx(p, 'deny.example'), { rc: undefined, msg: undefined })
    assert.deepEqual(await mx(p, 'continue.example'), { rc: OK, msg: '192.0.2.25:2525' })
  })

  it('does nothing while force_routing=false', async () => {
    const p = makePlugin({ 'relay.ini': RELAY(), 'relay_dest_domains.ini': domains })
    assert.deepEqual(await mx(p, 'routed.example'), { rc: undefined, msg: undefined })
  })
})

describe('all', () => {
  it('all=true relays every recipient; all=false does nothing', async () => {
    const on = makePlugin({ 'relay.ini': RELAY({ acl: false, all: true }) })
    const c = conn('203.0.113.5', { withTxn: true })
    assert.equal((await harakaRcpt(on, c, 'a@anywhere.example')).final, 250)
    // the grant is for that recipient: the flag waits for DATA
    assert.equal(c.relaying, false)
    await hook(on, 'relay_granted_message', c)
    assert.equal(c.relaying, true)
    const off = makePlugin({ 'relay.ini': RELAY() })
    const c2 = conn('203.0.113.5', { withTxn: true })
    assert.equal((await rcpt(off, c2, 'a@anywhere.example')).rc, undefined)
    assert.equal(c2.relaying, false)
  })
})

describe('reload without re-register', () => {
  it('switching features in relay.ini takes effect on reload', async () => {
    const plugin = makePlugin({ 'relay.ini': RELAY(), relay_acl_allow: ACL, 'relay_dest_domains.ini': DOMAINS })
    const register = plugin.register
    plugin.register = () => assert.fail('register() called again')

    let c = conn('203.0.113.5', { withTxn: true })
    assert.equal((await rcpt(plugin, c, 'a@deny.example')).rc, undefined)
    rewrite(plugin, 'relay.ini', RELAY({ dest_domains: true, force_routing: true, acl: false }))
    c = conn('203.0.113.5', { withTxn: true })
    assert.equal((await rcpt(plugin, c, 'a@deny.example')).rc, DENY)
    assert.equal((await hook(plugin, 'force_routing', {}, 'continue.example')).rc, OK)
    const aclConn = conn('192.0.2.1')
    assert.equal((await hook(plugin, 'acl', aclConn)).rc, undefined)
    assert.equal(aclConn.relaying, false)

    rewrite(plugin, 'relay.ini', RELAY())
    c = conn('203.0.113.5', { withTxn: true })
    assert.equal((await rcpt(plugin, c, 'a@deny.example')).rc, undefined)
    assert.equal((await hook(plugin, 'force_routing', {}, 'continue.example')).rc, undefined)
    plugin.register = register
  })

  it('an edited relay_acl_allow and relay_dest_domains.ini are swapped in whole', async () => {
    const plugin = makePlugin({ 'relay.ini': RELAY({ dest_domains: true }), relay_acl_allow: ACL, 'relay_dest_domains.ini': DOMAINS })
    rewrite(plugin, 'relay_acl_allow', '203.0.113.0/24\n')
    let c = conn('203.0.113.5')
    assert.equal((await hook(plugin, 'acl', c)).rc, OK)
    c = conn('192.0.2.77')
    assert.equal((await hook(plugin, 'acl', c)).rc, undefined)

    rewrite(plugin, 'relay_dest_domains.ini', '[domains]\nnew.example = { "action": "accept" }\n')
    c = conn('198.51.100.1', { withTxn: true })
    assert.equal((await rcpt(plugin, c, 'a@new.example')).rc, OK)
    c = conn('198.51.100.1', { withTxn: true })
    assert.equal((await rcpt(plugin, c, 'a@accept.example')).rc, DENY)
  })

  it("the plugin's watcher reloads a changed file by itself", { timeout: 20000 }, async () => {
    const plugin = makePlugin({ 'relay.ini': RELAY() })
    fs.writeFileSync(path.join(plugin.configDir, 'relay.ini'), RELAY({ all: true }))
    const deadline = Date.now() + 15000
    while (!plugin.engine.settings().all) {
      assert.ok(Date.now() < deadline, 'relay.ini change not picked up within 15 s')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })
})

describe('engine failures', () => {
  // These replace engine methods on the plugin's own engine: they are about
  // how the plugin handles a throwing engine, not about the engine.
  function trapOnce(plugin, method) {
    const engine = plugin.engine
    const real = engine[method]
    let resets = 0
    const realReset = engine.reset
    engine.reset = function () {
      resets++
      return realReset.apply(this, arguments)
    }
    engine[method] = function () {
      engine[method] = real
      throw new Error(`simulated trap in ${method}`)
    }
    return () => resets
  }

  const files = { 'relay.ini': RELAY({ dest_domains: true, force_routing: true }), relay_acl_allow: ACL, 'relay_dest_domains.ini': DOMAINS }

  it('acl: DENYSOFT, reset, and the next connection works', async () => {
    const plugin = makePlugin(files)
    const resets = trapOnce(plugin, 'aclMatch')
    const c = conn('192.0.2.1')
    const r = await hook(plugin, 'acl', c)
    assert.equal(r.rc, DENYSOFT)
    assert.equal(r.msg, 'temporary failure in relay-wasm')
    assert.equal(c.relaying, false)
    assert.equal(resets(), 1)
    assert.ok(plugin.logs.some(([l, m]) => l === 'logcrit' && /simulated trap/.test(m)))
    assert.equal((await hook(plugin, 'acl', conn('192.0.2.1'))).rc, OK)
  })

  it('rcpt: DENYSOFT, then the next recipient works', async () => {
    const plugin = makePlugin(files)
    const resets = trapOnce(plugin, 'rcpt')
    const c = conn('203.0.113.5', { withTxn: true })
    const r = await rcpt(plugin, c, 'a@accept.example')
    assert.equal(r.rc, DENYSOFT)
    assert.equal(c.relaying, false)
    assert.equal(resets(), 1)
    assert.equal((await rcpt(plugin, c, 'a@accept.example')).rc, OK)
  })

  it('settings() throwing in connect and rcpt: DENYSOFT', async () => {
    for (const [method, args] of [
      ['pass_relaying', [conn('192.0.2.1')]],
      ['rcpt', [conn('192.0.2.1', { withTxn: true }), [{ host: 'a.example' }, {}]]],
    ]) {
      const plugin = makePlugin(files)
      trapOnce(plugin, 'settings')
      assert.equal((await hook(plugin, method, ...args)).rc, DENYSOFT, method)
    }
  })

  it('get_mx: DENYSOFT, then routes again', async () => {
    const plugin = makePlugin(files)
    trapOnce(plugin, 'route')
    assert.equal((await hook(plugin, 'force_routing', {}, 'continue.example')).rc, DENYSOFT)
    assert.equal((await hook(plugin, 'force_routing', {}, 'continue.example')).rc, OK)
  })

  it('a throwing load is logged and does not escape register or reload', () => {
    const plugin = makePlugin(files)
    const engine = plugin.engine
    const real = engine.load
    engine.load = () => {
      throw new Error('simulated trap in load')
    }
    assert.doesNotThrow(() => plugin.load_relay_file('relay.ini'))
    engine.load = real
    assert.ok(plugin.logs.some(([l, m]) => l === 'logcrit' && /simulated trap in load/.test(m)))
  })

  it('a reset that throws too is logged, the hook still answers DENYSOFT', async () => {
    const plugin = makePlugin(files)
    const engine = plugin.engine
    const realReset = engine.reset
    const realAcl = engine.aclMatch
    engine.reset = () => {
      throw new Error('reset failed too')
    }
    engine.aclMatch = () => {
      throw new Error('simulated trap')
    }
    assert.equal((await hook(plugin, 'acl', conn('192.0.2.1'))).rc, DENYSOFT)
    assert.ok(plugin.logs.some(([l, m]) => l === 'logcrit' && /reset failed too/.test(m)))
    engine.reset = realReset
    engine.aclMatch = realAcl
  })
})

describe('a file that failed to load is not trusted, old or new', () => {
  const files = { 'relay.ini': RELAY({ dest_domains: true, force_routing: true }), relay_acl_allow: ACL, 'relay_dest_domains.ini': DOMAINS }

  // engine.load throws for `file` until the returned function is called
  function failLoads(plugin, file) {
    const engine = plugin.engine
    const real = engine.load
    engine.load = function (f, ...rest) {
      if (f === file) throw new Error(`simulated failure loading ${f}`)
      return real.call(this, f, ...rest)
    }
    return () => {
      engine.load = real
    }
  }

  it('relay_dest_domains.ini: its recipients and routes get DENYSOFT until a load succeeds', async () => {
    const plugin = makePlugin(files)
    const heal = failLoads(plugin, 'relay_dest_domains.ini')
    rewrite(plugin, 'relay_dest_domains.ini', '[domains]\nother.example = { "action": "accept" }\n')
    assert.ok(plugin.logs.some(([l, m]) => l === 'logcrit' && /answering DENYSOFT for what relay_dest_domains\.ini decides/.test(m)))
    // the old text is still in the engine, but not trusted: no 250, no 550
    const r = await rcpt(plugin, conn('203.0.113.5', { withTxn: true }), 'a@accept.example', 'rcpt')
    assert.equal(r.rc, DENYSOFT)
    assert.equal((await rcpt(plugin, conn('203.0.113.5', { withTxn: true }), 'a@unlisted.example', 'rcpt')).rc, DENYSOFT)
    assert.equal((await hook(plugin, 'force_routing', {}, 'continue.example')).rc, DENYSOFT)
    // a client that relays anyway (ACL, AUTH) does not need the file
    const acl = conn('192.0.2.1')
    assert.equal((await hook(plugin, 'acl', acl)).rc, OK)
    acl.init_transaction()
    assert.equal((await rcpt(plugin, acl, 'a@unlisted.example', 'rcpt')).rc, undefined)
    heal()
    rewrite(plugin, 'relay_dest_domains.ini', '[domains]\nother.example = { "action": "accept" }\n')
    assert.equal((await rcpt(plugin, conn('203.0.113.5', { withTxn: true }), 'a@other.example', 'rcpt')).rc, OK)
    assert.equal((await rcpt(plugin, conn('203.0.113.5', { withTxn: true }), 'a@accept.example', 'rcpt')).rc, DENY)
  })

  it('relay_acl_allow: the connection keeps the failure and its recipients get DENYSOFT', async () => {
    const plugin = makePlugin(files)
    const heal = failLoads(plugin, 'relay_acl_allow')
    rewrite(plugin, 'relay_acl_allow', '198.51.100.0/24\n')
    const c = conn('192.0.2.1') // listed in the old text
    assert.equal((await hook(plugin, 'acl', c)).rc, undefined)
    assert.equal(c.relaying, false)
    c.init_transaction()
    assert.equal((await rcpt(plugin, c, 'a@accept.example', 'rcpt')).rc, DENYSOFT)
    // SMTP AUTH relays without the ACL
    const authed = conn('203.0.113.5', { relaying: true })
    await hook(plugin, 'acl', authed)
    authed.init_transaction()
    assert.equal((await rcpt(plugin, authed, 'a@elsewhere.example', 'rcpt')).rc, undefined)
    heal()
    rewrite(plugin, 'relay_acl_allow', '198.51.100.0/24\n')
    const later = conn('198.51.100.9')
    assert.equal((await hook(plugin, 'acl', later)).rc, OK)
  })

  it('relay.ini: every decision of a client that does not relay otherwise is DENYSOFT', async () => {
    const plugin = makePlugin(files)
    const heal = failLoads(plugin, 'relay.ini')
    rewrite(plugin, 'relay.ini', RELAY({ all: true }))
    const c = conn('203.0.113.5')
    await hook(plugin, 'acl', c)
    c.init_transaction()
    assert.equal((await rcpt(plugin, c, 'a@accept.example', 'rcpt')).rc, DENYSOFT)
    assert.equal((await hook(plugin, 'force_routing', {}, 'continue.example')).rc, DENYSOFT)
    heal()
    rewrite(plugin, 'relay.ini', RELAY({ dest_domains: true }))
    assert.equal((await rcpt(plugin, conn('203.0.113.5', { withTxn: true }), 'a@accept.example', 'rcpt')).rc, OK)
  })

  it('a file that cannot be read (a directory in its place) fails the same way', async () => {
    const plugin = unwatched(makePlugin(files))
    const p = path.join(plugin.configDir, 'relay_dest_domains.ini')
    fs.rmSync(p)
    fs.mkdirSync(p)
    await plugin.reload_when_settled('relay_dest_domains.ini')
    assert.equal((await rcpt(plugin, conn('203.0.113.5', { withTxn: true }), 'a@accept.example', 'rcpt')).rc, DENYSOFT)
    fs.rmdirSync(p)
  })
})

describe('a changed file is put in force only once it stands still', () => {
  const past = (p, ms) => {
    const t = (Date.now() - ms) / 1000
    fs.utimesSync(p, t, t)
  }

  for (const [about, cut, settleAfter] of [
    ['a line cut mid-way (no line end)', '203.0.113.0/2', 15000],
    ['a file read empty', '', 15000],
    ['a whole text modified moments ago', '203.0.113.0/24\n', 2000],
  ]) {
    it(`${about}: the text in force stays until the file has not changed for ${settleAfter / 1000} s`, async () => {
      const plugin = unwatched(makePlugin({ 'relay.ini': RELAY(), relay_acl_allow: '192.0.2.1\n' }))
      const p = path.join(plugin.configDir, 'relay_acl_allow')
      fs.writeFileSync(p, cut)
      past(p, settleAfter - 1000)
      await plugin.reload_when_settled('relay_acl_allow')
      assert.equal((await hook(plugin, 'acl', conn('192.0.2.1'))).rc, OK, 'the old text stays in force')
      assert.equal((await hook(plugin, 'acl', conn('203.0.113.9'))).rc, undefined)
      assert.ok(plugin.logs.some(([l, m]) => l === 'loginfo' && /^relay_acl_allow .*the text in force stays/.test(m)))
      clearTimeout(plugin.settle_timers.get('relay_acl_allow'))
      past(p, settleAfter + 100)
      await plugin.reload_when_settled('relay_acl_allow')
      // the new text is in force
      if (cut) assert.equal((await hook(plugin, 'acl', conn('203.0.113.9'))).rc, OK)
      else assert.equal((await hook(plugin, 'acl', conn('192.0.2.1'))).rc, undefined)
    })
  }
})

describe('a file in Haraka\'s config/ that vanishes', () => {
  it('is held for 15 s before the shipped default (or nothing) takes its place', async () => {
    const defaults = configDir({ 'relay.ini': RELAY(), relay_acl_allow: '' })
    const overrides = configDir({ 'relay.ini': RELAY({ acl: false }), relay_acl_allow: '192.0.2.0/24\n' })
    const plugin = new fixtures.plugin('relay-wasm')
    plugin.config = plugin.config.module_config(defaults, overrides)
    plugin.logs = []
    for (const level of LOG_LEVELS) plugin[level] = (...args) => plugin.logs.push([level, args.join(' ')])
    plugin.register()
    unwatched(plugin)
    const hourAgo = (Date.now() - 3600e3) / 1000
    fs.utimesSync(path.join(defaults, 'config', 'relay.ini'), hourAgo, hourAgo) // installed long ago
    assert.equal(plugin.engine.settings().acl, false)
    // an editor that deletes before it writes: the default (acl=true) would
    // let 192.0.2.0/24 relay
    fs.rmSync(path.join(overrides, 'config', 'relay.ini'))
    await plugin.reload_when_settled('relay.ini')
    assert.equal(plugin.engine.settings().acl, false, 'held')
    clearTimeout(plugin.settle_timers.get('relay.ini'))
    plugin.moved_since.get('relay.ini').since -= 16000
    await plugin.reload_when_settled('relay.ini')
    assert.equal(plugin.engine.settings().acl, true, 'the default, once the file has been gone for 15 s')
  })
})
