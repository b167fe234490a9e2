'use strict'
// A real out-of-memory of the real module, through the plugin (index.js,
// driven by haraka-test-fixtures): relay.wasm as committed, but with the
// maximum of its memory set to CAP pages (test/support/capped-wasm.js), so
// that memory.grow fails inside the module as it would at 4 GiB, and
// loaded by the plugin through RELAY_WASM_MODULE as any other build.  No
// engine method is replaced.  README difference 14 says what must happen:
//  - a text whose parsing runs out of memory (relay_load answers -1): the
//    load fails, a fresh instance is made with the last good text of each
//    file, what that file decides is answered DENYSOFT (the other files
//    still answer), and the next good load of it puts it in force again;
//  - a question that runs out of memory (the module cannot take the
//    domain): that recipient gets DENYSOFT, a fresh instance answers the
//    next one right.
// The trap of a test build (preset wasm-test-traps) inside a real Haraka is
// in test/haraka-edges.test.js.
//
//   node --test test/oom.test.js

process.env.WITHOUT_CONFIG_CACHE = '1'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, describe, it } = require('node:test')

const { OK, CONT, DENY, DENYSOFT } = require('haraka-constants')

const { cappedWasm } = require('./support/capped-wasm')

const CAP = 24 // pages of 64 KiB: 1.5 MiB of linear memory

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-oom-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

// before anything requires js/engine.js (it reads RELAY_WASM_MODULE once)
const CAPPED = path.join(tmpRoot, 'relay-capped.wasm')
fs.writeFileSync(CAPPED, cappedWasm(fs.readFileSync(path.join(__dirname, '..', 'wasm', 'relay.wasm')), CAP))
process.env.RELAY_WASM_MODULE = CAPPED

const fixtures = require('haraka-test-fixtures')

const LOG_LEVELS = ['logdebug', 'loginfo', 'lognotice', 'logwarn', 'logerror', 'logcrit', 'logalert', 'logemerg']

const FILES = {
  'relay.ini': '[relay]\nacl = true\ndest_domains = true\nforce_routing = true\n',
  relay_acl_allow: '192.0.2.0/24\n',
  'relay_dest_domains.ini': '[domains]\nok.example = {"action":"accept"}\nroute.example = {"action":"accept","nexthop":"192.0.2.25:2525"}\n',
}

// 25,000 entries, 914,000 characters: below the size the plugin hands to
// its worker (a million), and more than the parsing of it finds in CAP pages
function bigDomains() {
  const lines = ['[domains]']
  for (let i = 0; i < 25000; i++) lines.push(`d${i}.example = {"action":"accept"}`)
  return lines.join('\n') + '\n'
}

let dirs = 0
function makePlugin() {
  const dir = path.join(tmpRoot, `c${++dirs}`)
  fs.mkdirSync(path.join(dir, 'config'), { recursive: true })
  for (const [name, text] of Object.entries(FILES)) fs.writeFileSync(path.join(dir, 'config', name), text)
  const plugin = new fixtures.plugin('relay-wasm')
  plugin.config = plugin.config.module_config(dir)
  plugin.logs = []
  for (const level of LOG_LEVELS) plugin[level] = (...args) => plugin.logs.push([level, args.filter((a) => typeof a !== 'object').join(' ')])
  plugin.register()
  return plugin
}

const crit = (plugin, re) => plugin.logs.some(([l, m]) => l === 'logcrit' && re.test(m))
const pages = (plugin) => plugin.engine.exports.memory.buffer.byteLength / 65536

// the recipient hook for a client that does not relay otherwise
async function rcpt(plugin, addr) {
  const c = fixtures.makeConnection({ ip: '203.0.113.5', silent: true, withTxn: true })
  return fixtures.callRcpt(plugin, c, `<${addr}>`, {}, 'rcpt')
}

describe('a real out-of-memory of relay.wasm', () => {
  it('the plugin runs the capped module: its memory cannot grow past CAP pages', () => {
    assert.equal(require('../js/engine').WASM_PATH, CAPPED)
    const plugin = makePlugin()
    const memory = plugin.engine.exports.memory
    assert.ok(pages(plugin) < CAP)
    assert.throws(() => memory.grow(CAP + 1 - pages(plugin)), RangeError)
    assert.equal(memory.grow(0), pages(plugin)) // a refused grow changed nothing
  })

  it('a reload that runs out of memory: DENYSOFT for that file, a fresh instance with the last good texts, then the next load is in force', async () => {
    const plugin = makePlugin()
    assert.equal((await rcpt(plugin, 'a@ok.example')).rc, OK)
    const failed = plugin.engine.exports

    // Haraka's reload of relay_dest_domains.ini, with a text too big for CAP
    plugin.load_relay_file('relay_dest_domains.ini', { text: bigDomains() })
    assert.ok(crit(plugin, /engine failure while loading relay_dest_domains\.ini: .*out of memory/), JSON.stringify(plugin.logs.slice(-3)))
    assert.ok(crit(plugin, /answering DENYSOFT for what relay_dest_domains\.ini decides/))

    // a fresh instance (not the one that ran out), holding the last good texts
    assert.notEqual(plugin.engine.exports, failed)
    assert.ok(pages(plugin) < 8, `fresh instance: ${pages(plugin)} pages`)
    assert.deepEqual(plugin.engine.texts, Object.values(FILES))
    assert.deepEqual(plugin.engine.rcpt('ok.example'), { action: 'accept', line: 2 })
    assert.deepEqual(plugin.engine.rcpt('d1.example'), { action: 'unlisted', line: 0 })

    // what that file decides is a temporary failure, listed or not
    for (const addr of ['a@ok.example', 'b@d1.example', 'c@elsewhere.example']) {
      const r = await rcpt(plugin, addr)
      assert.deepEqual([r.rc, r.msg], [DENYSOFT, 'temporary failure in relay-wasm'], addr)
    }
    assert.equal((await fixtures.callHook(plugin, 'force_routing', {}, 'route.example')).rc, DENYSOFT)
    // the other files still answer: a listed client relays
    const listed = fixtures.makeConnection({ ip: '192.0.2.9', silent: true })
    assert.equal((await fixtures.callHook(plugin, 'acl', listed)).rc, OK)
    assert.equal(listed.relaying, true)

    // the next good text of the file is in force, and answered right
    plugin.load_relay_file('relay_dest_domains.ini', { text: '[domains]\nok.example = {"action":"deny"}\nnew.example = {"action":"accept"}\n' })
    assert.ok(plugin.logs.some(([l, m]) => l === 'lognotice' && /relay_dest_domains\.ini loaded; its decisions are in force again/.test(m)))
    assert.equal((await rcpt(plugin, 'a@new.example')).rc, OK)
    const r = await rcpt(plugin, 'b@ok.example')
    assert.deepEqual([r.rc, r.msg], [DENY, 'You are not allowed to relay'])
    assert.equal((await fixtures.callHook(plugin, 'force_routing', {}, 'new.example')).rc ?? CONT, CONT) // no nexthop: by MX
  })

  it('a question that runs out of memory: DENYSOFT for that recipient, a fresh instance answers the next one right', async () => {
    const plugin = makePlugin()
    const before = plugin.engine.exports
    // a domain whose UTF-8 the module has no room to take
    const host = `${'x'.repeat(600000)}.example`
    const c = fixtures.makeConnection({ ip: '203.0.113.5', silent: true, withTxn: true })
    const r = await fixtures.callHook(plugin, 'rcpt', c, [{ user: 'u', host, toString: () => '<u@x…x.example>' }, {}])
    assert.deepEqual([r.rc, r.msg], [DENYSOFT, 'temporary failure in relay-wasm'])
    assert.ok(crit(plugin, /engine failure while looking up x+\.example in relay_dest_domains\.ini: RelayTrap: relay\.wasm: out of memory/), JSON.stringify(plugin.logs.slice(-2)).slice(0, 600))
    assert.notEqual(plugin.engine.exports, before)
    assert.equal(c.relaying, false)
    // the next recipients, on the fresh instance with the same texts
    assert.equal((await rcpt(plugin, 'a@ok.example')).rc, OK)
    const refused = await rcpt(plugin, 'b@elsewhere.example')
    assert.deepEqual([refused.rc, refused.msg], [DENY, 'You are not allowed to relay'])
    // and nothing of the file is distrusted: no load failed
    assert.ok(!crit(plugin, /answering DENYSOFT/))
  })
})
