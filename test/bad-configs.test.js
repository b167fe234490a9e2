// The corpus of broken and hostile config sets, test/fixtures/bad/NN-name/:
// the files (any of relay.ini, relay_acl_allow, relay_dest_domains.ini) and
// expect.json with
//   about        what the case is
//   generate     { file: generator } for files too big to commit (below)
//   diagnostics  [{ file, line, code }]: every error and warning it must
//                produce, and no other (notes may come on top); with
//                "complete": false only these must be among them
//   decisions    settings, acl { client: line | null }, rcpt { domain:
//                action }, route { domain: 'mx' | 'invalid' | { nexthop } }
// Each case is loaded into the module (js/engine.js) and into the plugin as
// Haraka runs it (index.js through haraka-test-fixtures).  The diagnostics
// are compared with expect.json as multisets (a diagnostic given twice must
// be listed twice); the plugin's hooks are asked about the clients and
// domains of expect.json and their answers compared with what those
// decisions mean in Haraka (the settings are expect.json's, else
// haraka-config's reading of relay.ini: test/support/reference.js).  On top
// of what expect.json says:
//   - nothing throws, the plugin logs each error as file:line, no trap;
//   - every diagnostic names a file and a line inside it, with a known
//     severity, a kebab-case code and a message under 400 characters;
//   - no decision is wider than the valid part of the config: with the lines
//     that got an error blanked out, relay_acl_allow answers every client
//     (at and around every entry written in the file) the same, and no
//     domain on a line with an error is accepted (but for an error in the
//     nexthop alone, which defers the route and leaves the action).
'use strict'

process.env.WITHOUT_CONFIG_CACHE = '1'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, describe, it } = require('node:test')

const ipaddr = require('ipaddr.js')
const fixtures = require('haraka-test-fixtures')

const { OK, CONT, DENY } = require('haraka-constants')

const { createEngine, FILES } = require('../js/engine')
const { settingsOf, aclOf, domainsOf } = require('./support/reference')

const BAD = path.join(__dirname, 'fixtures', 'bad')
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-bad-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const MB10 = 10 * 1024 * 1024
const MILLION = 1000000

// Files too big to commit, made the same way on every run.
const GENERATORS = {
  'acl-10mb-line': () => `192.0.2.${'1'.repeat(MB10)}\n192.0.2.9\n`,
  'ini-10mb-line': () => `[relay]\nall = ${'x'.repeat(MB10)}\nacl = true\n`,
  'domains-10mb-line': () =>
    `[domains]\n${'a'.repeat(MB10)} = {"action":"accept"}\nexample.com = {"action":"accept"}\n` +
    `example.net = {"nexthop":"${'b'.repeat(MB10)}"}\n`,
  // values 64 levels deep (the limit), 100,000 and 65
  'domains-deep-json': () =>
    `[domains]\na.example = {"action":"accept","x":${'['.repeat(63)}${']'.repeat(63)}}\n` +
    `b.example = {"action":"accept","x":${'['.repeat(100000)}${']'.repeat(100000)}}\n` +
    'c.example = {"action":"accept"}\n' +
    `d.example = {"action":"accept","x":${'['.repeat(64)}${']'.repeat(64)}}\n`,
  // line i+1: host 10.0.0.0 + i, every third one broken (10.x.y.300)
  'acl-million-lines': () => {
    const lines = new Array(MILLION)
    for (let i = 0; i < MILLION; i++) {
      const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}`
      lines[i] = i % 3 === 2 ? `${host}.300` : `${host}.${i & 255}`
    }
    return lines.join('\n') + '\n'
  },
  // [domains], then d<i>.example, every odd one with broken JSON
  'domains-million-lines': () => {
    const lines = ['[domains]']
    for (let i = 0; i < MILLION - 1; i++) lines.push(i % 2 ? `d${i}.example = {"action":` : `d${i}.example = {"action":"accept"}`)
    return lines.join('\n') + '\n'
  },
  // [relay], then repeats of acl = true and junk, the last line acl = false
  'ini-million-lines': () => {
    const lines = ['[relay]']
    for (let i = 0; i < MILLION - 2; i++) lines.push(i % 2 ? 'acl = true' : 'not a key value line!')
    lines.push('acl = false')
    return lines.join('\n') + '\n'
  },
}

// A case's files as the plugin reads them: bytes, decoded as UTF-8.
function loadCase(name) {
  const dir = path.join(BAD, name)
  const expect = JSON.parse(fs.readFileSync(path.join(dir, 'expect.json'), 'utf8'))
  const bytes = {}
  for (const file of FILES) {
    const gen = expect.generate?.[file]
    if (gen) bytes[file] = Buffer.from(GENERATORS[gen](), 'utf8')
    else if (fs.existsSync(path.join(dir, file))) bytes[file] = fs.readFileSync(path.join(dir, file))
  }
  return { dir, expect, bytes }
}

function lineCount(text) {
  let n = 1
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10) n++
    else if (c === 13) {
      n++
      if (text.charCodeAt(i + 1) === 10) i++
    }
  }
  return n
}

// The physical lines of a text with their ends, for blanking some of them.
function splitLines(text) {
  return text.match(/[^\r\n]*(?:\r\n|\r|\n|$)/g).slice(0, -1)
}

function engineWith(texts) {
  const e = createEngine()
  for (const [file, text] of Object.entries(texts)) e.load(file, text)
  return e
}

// Clients worth asking about an ACL text: each entry's address, the first
// and last address of its block and the ones just outside, in both notations.
function probeClients(text) {
  const out = new Set(['127.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '::', '192.0.2.1', '10.0.0.1'])
  for (let line of splitLines(text)) {
    line = line.replace(/#.*/s, '').trim()
    if (!line) continue
    const addr = line.split('/')[0].trim()
    if (addr.length < 64) out.add(addr)
    let net, len
    try {
      ;[net, len] = ipaddr.parseCIDR(line)
    } catch {
      try {
        net = ipaddr.parse(addr)
        len = net.kind() === 'ipv4' ? 32 : 128
      } catch {
        continue
      }
    }
    const bytes = net.toByteArray()
    const lo = bytes.slice()
    const hi = bytes.slice()
    for (let bit = len; bit < bytes.length * 8; bit++) {
      lo[bit >> 3] &= ~(0x80 >> (bit & 7))
      hi[bit >> 3] |= 0x80 >> (bit & 7)
    }
    const below = lo.slice()
    for (let i = below.length - 1; i >= 0 && below[i]-- === 0; i--) below[i] = 255
    const above = hi.slice()
    for (let i = above.length - 1; i >= 0 && ++above[i] === 256; i--) above[i] = 0
    for (const b of [lo, hi, below, above]) {
      const a = ipaddr.fromByteArray(b.map((x) => x & 255))
      out.add(a.toString())
      if (a.kind() === 'ipv4') out.add(`::ffff:${a.toString()}`)
      else if (a.isIPv4MappedAddress()) out.add(a.toIPv4Address().toString())
    }
  }
  return [...out]
}

// Domains worth asking about a relay_dest_domains.ini text: its keys.
function probeDomains(text) {
  const out = new Set(['example.com', 'any'])
  for (const line of splitLines(text)) {
    const m = line.match(/^\s*([A-Za-z0-9_@:.+\-/[\]]{1,300})\s*=/)
    if (m) out.add(m[1].toLowerCase())
  }
  return [...out]
}

function checkDiagnostic(d, lines) {
  assert.ok(FILES.includes(d.file), `file ${d.file}`)
  assert.ok(['error', 'warning', 'info'].includes(d.severity), `severity ${d.severity}`)
  assert.match(d.code, /^[a-z]+(-[a-z]+)*$/)
  assert.equal(typeof d.message, 'string')
  assert.ok(d.message.length > 0 && d.message.length < 400, `message of ${d.message.length} characters: ${d.message.slice(0, 200)}`)
  assert.ok(Number.isInteger(d.line) && d.line >= 0 && d.line <= (lines[d.file] ?? 1), `${d.file}:${d.line}`)
  assert.ok(Number.isInteger(d.column) && d.column >= 0)
}

function checkDecisions(engine, decisions = {}) {
  if (decisions.settings) {
    const s = engine.settings()
    for (const [k, v] of Object.entries(decisions.settings)) assert.equal(s[k], v, `settings.${k}`)
  }
  for (const [ip, line] of Object.entries(decisions.acl ?? {})) {
    assert.deepEqual(engine.aclMatch(ip), line === null ? null : { line }, `client ${ip}`)
  }
  for (const [domain, action] of Object.entries(decisions.rcpt ?? {})) {
    assert.equal(engine.rcpt(domain).action, action, `rcpt ${domain}`)
  }
  for (const [domain, want] of Object.entries(decisions.route ?? {})) {
    const r = engine.route(domain)
    if (typeof want === 'string') assert.equal(r.status, want, `route ${domain}: ${JSON.stringify(r)}`)
    else assert.deepEqual({ status: r.status, nexthop: r.nexthop }, { status: 'nexthop', ...want }, `route ${domain}`)
  }
}

// Expected diagnostics against the module's, as multisets of
// file:line:code: { missing, extra } (extra: errors and warnings that
// expect.json does not list; notes may come on top).
function diagnosticsDiff(expected, actual, complete) {
  const key = (d) => `${d.file}:${d.line}:${d.code}`
  const left = new Map()
  for (const d of actual) left.set(key(d), [...(left.get(key(d)) ?? []), d])
  const missing = []
  for (const d of expected) {
    const same = left.get(key(d))
    if (same?.length) same.pop()
    else missing.push(key(d))
  }
  const extra = complete ? [...left.values()].flat().filter((d) => d.severity !== 'info').map(key) : []
  return { missing, extra }
}

// What the rcpt hook answers a client that does not relay otherwise, for a
// recipient whose domain relay_dest_domains.ini answers with `action`
// (README, relay_dest_domains.ini; dest_domains, then all, as 1.0.2 orders
// them): { rc, msg }.
function expectedRcpt(settings, action) {
  if (settings.dest_domains) {
    if (action === 'accept') return { rc: OK }
    if (action === 'deny' || action === 'unlisted') return { rc: DENY, msg: 'You are not allowed to relay' }
    if (action === 'noaction' || action === 'invalid') return { rc: DENY, msg: 'Mail for that recipient is not accepted here.' }
  }
  // continue, or dest_domains off: all decides
  return settings.all ? { rc: OK } : { rc: CONT }
}

// The plugin, registered on a config/ holding the case's files.
let dirs = 0
function pluginFor(bytes) {
  const dir = path.join(tmpRoot, `c${++dirs}`)
  fs.mkdirSync(path.join(dir, 'config'), { recursive: true })
  for (const [file, b] of Object.entries(bytes)) fs.writeFileSync(path.join(dir, 'config', file), b)
  const plugin = new fixtures.plugin('relay-wasm')
  plugin.config = plugin.config.module_config(dir)
  plugin.logs = []
  for (const level of ['logdebug', 'loginfo', 'lognotice', 'logwarn', 'logerror', 'logcrit', 'logalert', 'logemerg']) {
    plugin[level] = (...args) => plugin.logs.push([level, args.filter((a) => typeof a !== 'object').join(' ')])
  }
  plugin.register()
  return { plugin, dir }
}

const cases = fs
  .readdirSync(BAD)
  .filter((n) => /^\d\d-/.test(n))
  .sort()

describe('bad configs', () => {
  it('the corpus has at least 40 cases', () => {
    assert.ok(cases.length >= 40, `${cases.length} cases`)
  })

  for (const name of cases) {
    it(name, async () => {
      const { expect, bytes } = loadCase(name)
      const texts = Object.fromEntries(Object.entries(bytes).map(([f, b]) => [f, b.toString('utf8')]))

      // the module
      const engine = engineWith(texts)
      const diags = engine.diagnostics()
      const lines = Object.fromEntries(Object.entries(texts).map(([f, t]) => [f, lineCount(t)]))
      for (const d of diags) checkDiagnostic(d, lines)
      const key = (d) => `${d.file}:${d.line}:${d.code}`
      const { missing, extra } = diagnosticsDiff(expect.diagnostics, diags, expect.complete !== false)
      assert.deepEqual(missing, [], `expected, not given (as many times as listed), among\n${diags.slice(0, 60).map(key).join('\n')}`)
      assert.deepEqual(extra, [], 'diagnostics expect.json does not list')
      checkDecisions(engine, expect.decisions)

      // no decision wider than the valid part allows
      const errorLines = (file) => new Set(diags.filter((d) => d.file === file && d.severity === 'error').map((d) => d.line))
      if (texts.relay_acl_allow !== undefined) {
        const bad = errorLines('relay_acl_allow')
        const valid = splitLines(texts.relay_acl_allow)
          .map((l, i) => (bad.has(i + 1) ? l.replace(/[^\r\n]+/, '') : l))
          .join('')
        const clean = engineWith({ relay_acl_allow: valid })
        if (!diags.some((d) => d.code === 'too-many-diagnostics')) {
          assert.equal(clean.diagnostics().filter((d) => d.severity === 'error').length, 0, 'blanking the error lines leaves no error')
        }
        const probes = texts.relay_acl_allow.length < 1e6 ? probeClients(texts.relay_acl_allow) : Object.keys(expect.decisions.acl ?? {})
        for (const ip of probes) {
          assert.deepEqual(engine.aclMatch(ip), clean.aclMatch(ip), `client ${ip}: the broken lines changed the answer`)
        }
      }
      if (texts['relay_dest_domains.ini'] !== undefined) {
        // a nexthop that cannot be read affects routing only (its mail is
        // deferred): the action on its line still decides the recipients
        const bad = new Set(
          diags.filter((d) => d.file === 'relay_dest_domains.ini' && d.severity === 'error' && d.code !== 'dest-bad-nexthop').map((d) => d.line),
        )
        const probes = texts['relay_dest_domains.ini'].length < 1e6 ? probeDomains(texts['relay_dest_domains.ini']) : Object.keys(expect.decisions.rcpt ?? {})
        for (const domain of probes) {
          const r = engine.rcpt(domain)
          if (r.action === 'accept' || r.action === 'continue') assert.ok(!bad.has(r.line), `${domain} accepted by line ${r.line}, which has an error`)
        }
      }

      // the plugin, as Haraka runs it
      const { plugin } = pluginFor(bytes)
      assert.deepEqual(plugin.logs.filter(([l]) => l === 'logcrit'), [], 'engine failure')
      const logged = plugin.logs.filter(([l]) => l === 'logerror').map(([, m]) => m)
      for (const d of diags.filter((x) => x.severity === 'error' && x.code !== 'too-many-diagnostics').slice(0, 50)) {
        assert.ok(
          // file:line: or, as relay-check prints it, file:line:column: when the column is known
          logged.some((m) => (m.startsWith(`${d.file}:${d.line}: error: `) || (d.column > 0 && m.startsWith(`${d.file}:${d.line}:${d.column}: error: `))) && m.endsWith(`[${d.code}]`)),
          `not logged: ${key(d)}`,
        )
      }
      checkDecisions(plugin.engine, expect.decisions)
      // the hooks' answers: expect.json's decisions, else the reference's
      // (test/support/reference.js: haraka-config, ipaddr.js, 1.0.2's rules)
      const settings = { ...settingsOf(texts['relay.ini']), ...expect.decisions.settings }
      const acl = aclOf(texts.relay_acl_allow)
      const lineOf = (ip) => (ip in (expect.decisions.acl ?? {}) ? expect.decisions.acl[ip] : acl.match(ip))
      for (const ip of Object.keys(expect.decisions.acl ?? {}).concat('192.0.2.1')) {
        const conn = fixtures.makeConnection({ ip, silent: true })
        await fixtures.callHook(plugin, 'acl', conn)
        assert.equal(conn.relaying, settings.acl && lineOf(ip) !== null, `relaying for ${ip}`)
      }
      const domains = domainsOf(texts['relay_dest_domains.ini'])
      for (const domain of Object.keys(expect.decisions.rcpt ?? {}).concat('example.com')) {
        const action = expect.decisions.rcpt?.[domain] ?? domains.rcpt(domain).action
        const conn = fixtures.makeConnection({ ip: '203.0.113.9', silent: true, withTxn: true })
        const r = await fixtures.callRcpt(plugin, conn, `<user@${domain}>`, {}, 'rcpt')
        const want = expectedRcpt(settings, action)
        assert.deepEqual({ rc: r.rc ?? CONT, ...(want.msg ? { msg: r.msg } : {}) }, want, `rcpt hook for user@${domain} (${action})`)
      }
      assert.deepEqual(plugin.logs.filter(([l]) => l === 'logcrit'), [], 'engine failure')
    })
  }
})
