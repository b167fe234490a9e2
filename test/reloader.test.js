// js/reloader.js (issue 12): a big file parsed in a worker thread and put
// in force by swapping instances gives exactly what a load on the event
// loop gives, and a newer text, a change of another file meanwhile or a
// small text are handled as the plugin needs.  No timing is asserted
// (bench/run.js measures the event loop).
'use strict'

const assert = require('node:assert/strict')
const { describe, it, after } = require('node:test')

const { createEngine, FILES } = require('../js/engine')
const reloader = require('../js/reloader')

const [INI, ACL, DOMAINS] = FILES
const saved = reloader.settings.minChars
after(() => (reloader.settings.minChars = saved))

function domainsText(n, seed, extra = '') {
  const lines = ['[domains]']
  const actions = ['accept', 'continue', 'deny']
  for (let i = 0; i < n; i++) {
    const k = (i * 7919 + seed) % (n * 3)
    lines.push(i % 7 === 0 ? `d${k}.example = { "action": "${actions[k % 3]}", "nexthop": "mx${k % 5}.example:25" }` : `d${k}.example = { "action": "${actions[k % 3]}" }`)
  }
  return `${lines.join('\n')}\n${extra}`
}

const aclText = (n, seed) => Array.from({ length: n }, (_, i) => `10.${(i + seed) & 255}.${(i >> 8) & 255}.${i & 255}/32`).join('\n') + '\n'

/* Everything an engine answers about these names and clients. */
function answers(e, names, ips) {
  return {
    settings: e.settings(),
    diagnostics: e.diagnostics(),
    rcpt: names.map((n) => e.rcpt(n)),
    route: names.map((n) => e.route(n)),
    acl: ips.map((ip) => e.aclMatch(ip)),
  }
}

/* Resolves once `text` is in force through the reloader; the number load() returned. */
function reloadAsync(e, file, text) {
  return new Promise((resolve, reject) => {
    const took = reloader.defer(e, file, text, (err) => (err ? reject(err) : resolve(e.load(file, text))))
    if (!took) reject(new Error('not taken'))
  })
}

const names = ['d0.example', 'd7.example', 'd8.example', 'D15.EXAMPLE', 'any', 'none.example', 'broken.example']
const ips = ['10.0.0.0', '10.1.0.1', '10.3.0.2', '192.0.2.1', '::1']

describe('reloader', () => {
  it('gives what a load on the event loop gives, for each file', async () => {
    reloader.settings.minChars = 0
    const texts = {
      [INI]: '[relay]\ndest_domains = true\nforce_routing = true\nbogus = 1\n',
      [ACL]: aclText(3000, 1) + 'junk\n',
      [DOMAINS]: domainsText(40000, 3, 'broken.example = {"action":\n any = {"nexthop":"smarthost.example:25"}\n'),
    }
    const next = {
      [INI]: '[relay]\ndest_domains = yes\nall = maybe\n',
      [ACL]: aclText(5000, 2) + '10.0.0.0/33\n',
      [DOMAINS]: domainsText(50000, 11, 'D8.example = {"action":"deny"}\n'),
    }
    for (const file of FILES) {
      const e = createEngine()
      for (const f of FILES) e.load(f, texts[f])
      const errors = await reloadAsync(e, file, next[file])
      const want = createEngine()
      for (const f of FILES) want.load(f, f === file ? next[f] : texts[f])
      assert.equal(errors, want.load(file, next[file]), file)
      assert.deepEqual(answers(e, names, ips), answers(want, names, ips), file)
      assert.equal(e.texts[FILES.indexOf(file)], next[file])
      // and a load on the event loop afterwards works on the new instance
      e.load(INI, '[relay]\nacl = false\n')
      want.load(INI, '[relay]\nacl = false\n')
      assert.deepEqual(answers(e, names, ips), answers(want, names, ips), `${file}, then relay.ini`)
    }
  })

  it('keeps the text in force until the new one is ready', async () => {
    reloader.settings.minChars = 0
    const e = createEngine()
    e.load(DOMAINS, '[domains]\nold.example = {"action":"accept"}\n')
    const text = domainsText(20000, 5, 'new.example = {"action":"accept"}\n')
    const done = reloadAsync(e, DOMAINS, text)
    assert.equal(e.rcpt('old.example').action, 'accept')
    assert.equal(e.rcpt('new.example').action, 'unlisted')
    await done
    assert.equal(e.rcpt('old.example').action, 'unlisted')
    assert.equal(e.rcpt('new.example').action, 'accept')
  })

  it('a newer text of the file wins; the older one is never put in force', async () => {
    reloader.settings.minChars = 0
    const e = createEngine()
    const calls = []
    const first = domainsText(30000, 1, 'first.example = {"action":"accept"}\n')
    const second = domainsText(30000, 2, 'second.example = {"action":"accept"}\n')
    assert.equal(reloader.defer(e, DOMAINS, first, () => calls.push('first')), true)
    await new Promise((resolve) => {
      assert.equal(reloader.defer(e, DOMAINS, second, () => (calls.push('second'), resolve())), true)
    })
    assert.deepEqual(calls, ['second'])
    assert.equal(e.isReady(DOMAINS, first), false)
    e.load(DOMAINS, second)
    assert.equal(e.rcpt('second.example').action, 'accept')
    assert.equal(e.rcpt('first.example').action, 'unlisted')
  })

  it('an instance made with another file since changed is not used', async () => {
    reloader.settings.minChars = 0
    const e = createEngine()
    e.load(INI, '[relay]\ndest_domains = true\n')
    const text = domainsText(20000, 7)
    await new Promise((resolve) => {
      reloader.defer(e, DOMAINS, text, resolve)
      e.load(INI, '[relay]\nforce_routing = true\n') // meanwhile, on the event loop
    })
    assert.equal(e.isReady(DOMAINS, text), false, 'made with the old relay.ini')
    e.load(DOMAINS, text) // so this loads it here
    assert.deepEqual(e.settings(), { acl: true, force_routing: true, dest_domains: false, all: false })
    const want = createEngine()
    want.load(INI, '[relay]\nforce_routing = true\n')
    want.load(DOMAINS, text)
    assert.deepEqual(answers(e, names, ips), answers(want, names, ips))
  })

  it('small texts and texts already made ready are not taken', async () => {
    reloader.settings.minChars = 1000
    const e = createEngine()
    assert.equal(reloader.defer(e, DOMAINS, '[domains]\n', () => assert.fail('called')), false)
    assert.equal(reloader.defer(e, 'other.ini', 'x'.repeat(5000), () => assert.fail('called')), false)
    const text = domainsText(500, 1)
    await new Promise((resolve) => assert.equal(reloader.defer(e, DOMAINS, text, resolve), true))
    assert.equal(reloader.defer(e, DOMAINS, text, () => assert.fail('called')), false, 'ready: load it')
    e.load(DOMAINS, text)
    assert.equal(e.isReady(DOMAINS, text), false)
  })

  it('the plugin keeps the old text in force, then logs the new one in force', async () => {
    reloader.settings.minChars = 0
    const plugin = Object.create(require('../index.js'))
    const logs = []
    for (const l of ['logdebug', 'loginfo', 'logwarn', 'logerror', 'logcrit', 'lognotice']) plugin[l] = (m) => logs.push(`${l} ${m}`)
    const files = { [INI]: '[relay]\ndest_domains = true\n', [ACL]: '', [DOMAINS]: '[domains]\nold.example = {"action":"accept"}\n' }
    plugin.config = { get: (name) => Buffer.from(files[name] ?? '') }
    plugin.register_hook = () => {}
    plugin.register()
    const text = domainsText(20000, 9, 'new.example = {"action":"accept"}\n')
    const inForce = new Promise((resolve) => {
      const lognotice = plugin.lognotice
      plugin.lognotice = (m) => (lognotice(m), /in force/.test(m) && resolve())
    })
    plugin.load_relay_file(DOMAINS, { text })
    assert.equal(plugin.engine.rcpt('old.example').action, 'accept', 'the old text stays until the new one is ready')
    await inForce
    assert.equal(plugin.engine.rcpt('new.example').action, 'accept')
    assert.equal(plugin.engine.rcpt('old.example').action, 'unlisted')
    assert.equal(plugin.in_force.get(DOMAINS), text)
    assert.ok(logs.some((l) => l.includes(`${DOMAINS} in force (0 errors)`)), logs.join('\n'))
  })

  it('a big file changed on disk is read off the event loop into shared memory, never decoded here', async () => {
    const fs = require('node:fs')
    const os = require('node:os')
    const path = require('node:path')
    reloader.settings.minChars = 4096
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-reloader-'))
    const files = { [INI]: '[relay]\ndest_domains = true\n', [ACL]: '192.0.2.1\n', [DOMAINS]: '[domains]\nold.example = {"action":"accept"}\n' }
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
    const plugin = Object.create(require('../index.js'))
    const logs = []
    for (const l of ['logdebug', 'loginfo', 'logwarn', 'logerror', 'logcrit', 'lognotice']) plugin[l] = (m) => logs.push(`${l} ${m}`)
    plugin.config = { root_path: dir, get: (name) => fs.readFileSync(path.join(dir, name)) }
    plugin.register_hook = () => {}
    plugin.register()
    for (const w of plugin.watchers) w.close() // this test says when the file is looked at
    const text = domainsText(2000, 3, 'new.example = {"action":"accept"}\nünï.example = {"action":"deny"}\n')
    const p = path.join(dir, DOMAINS)
    fs.writeFileSync(p, text)
    const past = (Date.now() - 5000) / 1000
    fs.utimesSync(p, past, past)
    const inForce = new Promise((resolve) => {
      const lognotice = plugin.lognotice
      plugin.lognotice = (m) => (lognotice(m), /in force/.test(m) && resolve())
    })
    await plugin.reload_when_settled(DOMAINS)
    assert.equal(plugin.engine.rcpt('old.example').action, 'accept', 'the old text stays until the new one is ready')
    await inForce
    const held = plugin.in_force.get(DOMAINS)
    assert.ok(held instanceof Uint8Array && held.buffer instanceof SharedArrayBuffer, 'held as the bytes read')
    assert.equal(Buffer.from(held).toString('utf8'), text)
    const expected = createEngine()
    expected.load(INI, files[INI])
    expected.load(ACL, files[ACL])
    expected.load(DOMAINS, text)
    const names = ['new.example', 'old.example', 'ünï.example', 'xn--n-dha0c.example', 'd3.example', 'd5000.example']
    assert.deepEqual(answers(plugin.engine, names, ['192.0.2.1']), answers(expected, names, ['192.0.2.1']))
    // a fresh instance (what a trap brings) is loaded from those bytes
    plugin.engine.reset()
    assert.deepEqual(answers(plugin.engine, names, ['192.0.2.1']), answers(expected, names, ['192.0.2.1']))
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
