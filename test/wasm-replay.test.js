// relay.wasm itself, input by input: every seed and regression input of the
// libFuzzer targets (test/fuzz/corpus/<target>/), fed to the module the way
// that target feeds its bytes to the native build, and a sweep of JSON
// nested 1 to 100,000 levels deep.  The fuzzers run natively, where the
// stack is megabytes deep and ASan watches every byte; in the module the
// stack is 64 KiB and nothing watches it, so an input that overflows it
// there could silently change what the module answers later.  Hence the
// corruption detector: after EACH input a fixed reference config (below)
// is loaded into the same instance and must give exactly the answers it
// gave a fresh instance (settings, ACL lines, rcpt actions, routes and its
// diagnostics).  A trap fails the input too.
//
// Every failing input is collected (and the instance replaced), so one run
// lists them all.  RELAY_REPLAY_WASM=path/to/other.wasm runs the suite
// against another build of the module.
'use strict'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { describe, it } = require('node:test')

const ipaddr = require('ipaddr.js')

const { createEngine, FILES } = require('../js/engine')
const { RelayCore } = require('../js/wasm-module')

const CORPUS = path.join(__dirname, 'fuzz', 'corpus')
const NESTING_LIMIT = 64 // CJSON_NESTING_LIMIT in CMakeLists.txt
const [INI, ACL, DOMAINS] = FILES

const newEngine = process.env.RELAY_REPLAY_WASM
  ? (() => {
      const mod = new WebAssembly.Module(fs.readFileSync(process.env.RELAY_REPLAY_WASM))
      return () => new RelayCore(mod)
    })()
  : createEngine

/* ---- text as the fuzz targets see it: bytes ------------------------------ */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function decode(bytes) {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return null
  }
}

/* Loads exactly these bytes.  engine.load takes a string (sent as UTF-8);
 * bytes that are not UTF-8 go through the same exports by hand. */
function loadBytes(engine, file, bytes) {
  const text = decode(bytes)
  if (text !== null) return engine.load(file, text)
  const index = FILES.indexOf(file)
  const errors = engine._call((e) => {
    const ptr = e.relay_input(bytes.length)
    engine._bytes().set(bytes, ptr)
    return e.relay_load(engine.cfg, index, bytes.length)
  })
  // what RelayCore._loadText does after a load
  engine._settings = null
  engine._reserveInput()
  return errors
}

/* Physical lines as the module counts them (CRLF, CR, LF end a line). */
function lineCount(bytes) {
  let lines = 1
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a) lines++
    else if (bytes[i] === 0x0d) {
      lines++
      if (bytes[i + 1] === 0x0a) i++
    }
  }
  return lines
}

/* check_diagnostics of fuzz_common.h: lines[f] is the line count of file f. */
function checkDiagnostics(diags, lines) {
  const order = (d) => FILES.indexOf(d.file)
  diags.forEach((d, i) => {
    assert.ok(order(d) >= 0, `file ${d.file}`)
    assert.ok(['error', 'warning', 'info'].includes(d.severity), `severity ${d.severity}`)
    assert.match(d.code, /^[a-z]+(-[a-z]+)*$/, 'kebab-case code')
    assert.ok(d.message.length > 0 && Buffer.byteLength(d.message) < 400, `message of ${Buffer.byteLength(d.message)} bytes`)
    assert.ok(!/[\u0000-\u001f\u007f]/.test(d.message), `control character in ${JSON.stringify(d.message)}`)
    assert.ok(d.line <= lines[order(d)], `${d.code} at line ${d.line} of a ${lines[order(d)]}-line ${d.file}`)
    if (i) {
      const p = diags[i - 1]
      assert.ok(order(p) < order(d) || (order(p) === order(d) && p.line <= d.line), `diagnostics out of order at ${i}`)
    }
  })
}

/* ---- the reference model of relay_acl_allow (fuzz_common.h) ---------------
 * Addresses as inet_pton reads them (node:net's isIPv4/isIPv6 without zone
 * ids), blocks widened to 128 bits, a client compared with every block. */

const ALL128 = (1n << 128n) - 1n

function refAddress(s) {
  if (s.length === 0 || Buffer.byteLength(s) >= 64 || s.includes('\0')) return null
  if (s.includes(':')) {
    if (s.includes('%') || !net.isIPv6(s)) return null
    return { value: v6Value(s), written: 6 }
  }
  if (!net.isIPv4(s)) return null
  return { value: s.split('.').reduce((v, p) => (v << 8n) | BigInt(p), 0xffffn), written: 4 }
}

/* Valid IPv6 text (net.isIPv6) to its 128 bits; a dotted tail is the last
 * 32 bits as written (::1.2.3.4 is not ::ffff:1.2.3.4). */
function v6Value(s) {
  const groups = (part) => {
    if (part === '') return []
    const out = []
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number)
        out.push((a << 8) | b, (c << 8) | d)
      } else out.push(parseInt(g, 16))
    }
    return out
  }
  const [head, tail] = s.split('::')
  const h = groups(head)
  const t = tail === undefined ? [] : groups(tail)
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t]
  return all.reduce((v, g) => (v << 16n) | BigInt(g), 0n)
}

const inMapped = (v) => v >> 32n === 0xffffn

function refPrefix(s, max) {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(s)) return -1
  return Number(s) <= max ? Number(s) : -1
}

function refEntry(s, line) {
  const slash = s.indexOf('/')
  const a = refAddress(slash < 0 ? s : s.slice(0, slash))
  if (!a) return null
  const max = a.written === 4 ? 32 : 128
  const prefix = slash < 0 ? max : refPrefix(s.slice(slash + 1), max)
  if (prefix < 0) return null
  const bits = prefix + (a.written === 4 ? 96 : 0)
  return { net: a.value, prefix: bits, v4: inMapped(a.value) && bits >= 96, line }
}

const blank = (c) => c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c

/* ref_parse: at most max blocks of relay_acl_allow bytes */
function refParse(bytes, max) {
  const blocks = []
  let i = 0
  let line = 0
  while (i < bytes.length && blocks.length < max) {
    const start = i
    while (i < bytes.length && bytes[i] !== 0x0a && bytes[i] !== 0x0d) i++
    let end = i
    if (i < bytes.length) i += bytes[i] === 0x0d && bytes[i + 1] === 0x0a ? 2 : 1
    line++
    let s = start
    if (line === 1 && end - s >= 3 && bytes[s] === 0xef && bytes[s + 1] === 0xbb && bytes[s + 2] === 0xbf) s += 3
    while (s < end && blank(bytes[s])) s++
    if (s === end || bytes[s] === 0x23 || bytes[s] === 0x3b) continue
    const hash = bytes.subarray(s, end).indexOf(0x23)
    if (hash >= 0) end = s + hash
    while (end > s && blank(bytes[end - 1])) end--
    const text = decode(bytes.subarray(s, end))
    const b = text === null ? null : refEntry(text, line)
    if (b) blocks.push(b)
  }
  return blocks
}

/* line of the most specific block holding ip (earliest among equals), 0 none, -1 not an address */
function refMatch(blocks, ip) {
  const a = refAddress(ip)
  if (!a) return -1
  const v4 = inMapped(a.value)
  let bestLine = 0
  let bestPrefix = -1
  for (const b of blocks) {
    if (b.v4 !== v4) continue
    const shift = BigInt(128 - b.prefix)
    if (a.value >> shift !== b.net >> shift) continue
    if (b.prefix > bestPrefix || (b.prefix === bestPrefix && b.line < bestLine)) {
      bestPrefix = b.prefix
      bestLine = b.line
    }
  }
  return bestLine
}

function addrText(v) {
  if (inMapped(v)) return [24n, 16n, 8n, 0n].map((s) => (v >> s) & 255n).join('.')
  const bytes = []
  for (let s = 120n; s >= 0n; s -= 8n) bytes.push(Number((v >> s) & 255n))
  return ipaddr.fromByteArray(bytes).toRFC5952String()
}

/* ref_edges: first and last address of a block and the ones just outside */
function refEdges(b) {
  const host = (1n << BigInt(128 - b.prefix)) - 1n
  const lo = b.net & ~host & ALL128
  const hi = lo | host
  const out = [lo, hi, (lo - 1n) & ALL128, (hi + 1n) & ALL128].map(addrText)
  if (inMapped(lo)) out.push(`::ffff:${addrText(lo)}`)
  return out
}

/* check_client: the module never relays a client the model refuses, and
 * agrees on the line (aclMatch gives null both for "no match" and "not an
 * address") */
function checkClient(engine, blocks, ip) {
  const got = engine.aclMatch(ip)
  const want = refMatch(blocks, ip)
  assert.ok(!(got && want <= 0), `client '${ip}' relays by line ${got?.line} but the reference model refuses it (${want})`)
  assert.equal(got ? got.line : 0, Math.max(want, 0), `client '${ip}': module ${JSON.stringify(got)}, reference ${want}`)
}

/* ---- what every fuzz target does with its bytes ------------------------- */

const swapCase = (s) => s.replace(/[a-zA-Z]/g, (c) => (c <= 'Z' ? c.toLowerCase() : c.toUpperCase()))

function checkRouteValue(hop) {
  if (typeof hop === 'string') assert.ok(hop.length > 0, 'empty route')
  else {
    assert.ok(Array.isArray(hop) && hop.length > 0, `route ${JSON.stringify(hop)}`)
    for (const h of hop) assert.ok(typeof h === 'string' && h.length > 0, `route item ${JSON.stringify(h)}`)
  }
}

/* fuzz_domains' ask(): one recipient domain */
function askDomain(engine, w, lines) {
  const r = engine.rcpt(w)
  assert.ok(r.action in ACTION_OK, `action ${r.action}`)
  if (r.action === 'unlisted') assert.equal(r.line, 0)
  else assert.ok(r.line >= 1 && r.line <= lines, `'${w}': ${r.action} at line ${r.line} of ${lines}`)
  if (Buffer.byteLength(w) <= 256) assert.deepEqual(engine.rcpt(swapCase(w)), r, `'${w}' answers differently in another case`)
  const route = engine.route(w)
  assert.ok(['mx', 'nexthop', 'invalid'].includes(route.status), `route ${route.status}`)
  assert.equal(route.status === 'nexthop', 'nexthop' in route)
  if (route.status === 'mx') return
  assert.ok(route.line >= 1 && route.line <= lines, `route at line ${route.line}`)
  if (route.status === 'nexthop') checkRouteValue(route.nexthop)
  if (route.key === 'any' && w.toLowerCase() !== 'any') {
    assert.deepEqual(engine.rcpt('any').line, route.line, 'route via `any` but `any` is not listed there')
  }
}
const ACTION_OK = { unlisted: 1, accept: 1, continue: 1, deny: 1, noaction: 1, invalid: 1 }

const wordByte = (c) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || '_@:.+-/[]'.includes(String.fromCharCode(c)) || c >= 0x80

/* fuzz_client.c's fixed list */
const CLIENT_ACL =
  '# a list with nesting, both families and mapped entries\n192.0.2.0/24\n192.0.2.128/25\n192.0.2.77\n10.0.0.0/8\n' +
  '10.20.0.0/16\n0.0.0.0/1\n172.16.0.0/12 # office\n198.51.100.1/32\n2001:db8::/32\n2001:db8:1::/48\n2001:db8:1:2::1\n' +
  '::ffff:203.0.113.0/120\n::ffff:0:0/95\nfe80::/10\n::1\n::/128\nff00::/8\n64:ff9b::/96\n'

/* fuzz_rcpt.c's fixed table: [key, value, action, route] */
const RCPT_ENTRIES = [
  ['accept.example', '{ "action": "accept" }', 'accept', 'none'],
  ['Continue.Example', '{ "action": "continue", "nexthop": "192.0.2.5:2525" }', 'continue', 'hop'],
  ['deny.example', '{"action":"deny"}', 'deny', 'none'],
  ['typo.example', '{"action":"Accept"}', 'invalid', 'bad'],
  ['json.example', '{action: accept}', 'invalid', 'bad'],
  ['route.example', '{"nexthop":["[2001:db8::25]:25","lmtp://lmtp.example:24"]}', 'noaction', 'hop'],
  ['badroute.example', '{"action":"accept","nexthop":"mx.example:0"}', 'accept', 'bad'],
  ['novalue.example', null, 'invalid', 'bad'],
  ['a', '{"action":"accept"}', 'accept', 'none'],
  ['xn--bcher-kva.example', '{"action":"continue"}', 'continue', 'none'],
  ['x[1]:y', '{"action":"accept"}', 'accept', 'none'],
  ['user@host.example', '{"action":"deny"}', 'deny', 'none'],
  ['sub.accept.example', '{"action":"deny"}', 'deny', 'none'],
  ['example', '{"action":"accept"}', 'accept', 'none'],
  ['any', '{"nexthop":"smtp://smarthost.example:587"}', 'noaction', 'hop'],
]
for (let k = 0; k < 40; k++) {
  const act = ['accept', 'continue', 'deny'][k % 3]
  RCPT_ENTRIES.push([`d${k}.example`, `{"action":"${act}"}`, act, 'none'])
}
const RCPT_TEXT = `[domains]\n${RCPT_ENTRIES.map(([k, v]) => (v === null ? `${k}\n` : `${k} = ${v}\n`)).join('')}`

function splitLines(bytes) {
  const out = []
  let start = 0
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      if (i < bytes.length || start < bytes.length) out.push(bytes.subarray(start, i))
      start = i + 1
    }
  }
  return out
}

const EMPTY = new Uint8Array(0)
const enc = (s) => new TextEncoder().encode(s)

/* The file texts of a fresh config but for the target's own. */
function loadOnly(engine, file, bytes) {
  for (const f of FILES) if (f !== file) engine.load(f, '')
  const errors = loadBytes(engine, file, bytes)
  assert.ok(errors >= 0, `load failed: ${errors}`)
  const lines = FILES.map((f) => (f === file ? lineCount(bytes) : 1))
  return lines
}

const TARGETS = {
  /* fuzz_ini.c */
  ini(engine, bytes) {
    const lines = loadOnly(engine, INI, bytes)
    const diags = engine.diagnostics()
    checkDiagnostics(diags, lines)
    const settings = engine.settings()
    assert.ok(loadBytes(engine, INI, bytes) >= 0)
    assert.deepEqual(engine.settings(), settings, 'reload changed the settings')
    assert.deepEqual(engine.diagnostics(), diags, 'reload changed the diagnostics')
  },

  /* fuzz_acl.c */
  acl(engine, bytes) {
    const lines = loadOnly(engine, ACL, bytes)
    checkDiagnostics(engine.diagnostics(), lines)
    const blocks = refParse(bytes, 64)
    if (blocks.length >= 64) return // more than the reference keeps
    const fixed = ['0.0.0.0', '255.255.255.255', '127.0.0.1', '192.0.2.1', '10.1.2.3', '::', '::1', '::ffff:192.0.2.1', '2001:db8::1', 'fe80::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']
    for (let pass = 0; pass < 2; pass++) {
      for (const b of blocks) for (const ip of refEdges(b)) checkClient(engine, blocks, ip)
      for (const ip of fixed) checkClient(engine, blocks, ip)
      assert.ok(loadBytes(engine, ACL, bytes) >= 0, 'reload failed')
    }
  },

  /* fuzz_domains.c */
  domains(engine, bytes) {
    const lines = loadOnly(engine, DOMAINS, bytes)
    checkDiagnostics(engine.diagnostics(), lines)
    let words = 0
    for (let i = 0; i < bytes.length && words < 48; ) {
      if (!wordByte(bytes[i])) {
        i++
        continue
      }
      const start = i
      while (i < bytes.length && wordByte(bytes[i])) i++
      const w = decode(bytes.subarray(start, i))
      if (w !== null) askDomain(engine, w, lines[2]) // a word that is not UTF-8 cannot be asked through the loader
      words++
    }
    askDomain(engine, 'any', lines[2])
    askDomain(engine, '', lines[2])
  },

  /* fuzz_client.c */
  client(engine, bytes) {
    loadOnly(engine, ACL, enc(CLIENT_ACL))
    assert.equal(engine.diagnostics().filter((d) => d.severity === 'error').length, 0, 'the fixed ACL loads without errors')
    const ip = decode(bytes)
    if (ip !== null) checkClient(engine, refParse(enc(CLIENT_ACL), 64), ip)
  },

  /* fuzz_rcpt.c */
  rcpt(engine, bytes) {
    loadOnly(engine, DOMAINS, enc(RCPT_TEXT))
    const d = decode(bytes)
    if (d === null) return
    const find = (name) =>
      RCPT_ENTRIES.findIndex(([k]) => k.length === name.length && k.toLowerCase() === name.replace(/[A-Z]/g, (c) => c.toLowerCase()))
    const i = find(d)
    const any = find('any')
    assert.deepEqual(engine.rcpt(d), i < 0 ? { action: 'unlisted', line: 0 } : { action: RCPT_ENTRIES[i][2], line: i + 2 }, `rcpt '${d}'`)
    const via = i >= 0 ? i : any // `any` only for a domain without an entry
    const want = via < 0 ? 'none' : RCPT_ENTRIES[via][3]
    const r = engine.route(d)
    assert.equal(r.status, { none: 'mx', hop: 'nexthop', bad: 'invalid' }[want], `route '${d}'`)
    if (want !== 'none') {
      assert.equal(r.line, via + 2, `route line of '${d}'`)
      assert.equal(r.key === 'any' && via !== i, via === any && via !== i, `route of '${d}' via any`)
    }
  },

  /* fuzz_sequence.c */
  sequence(engine, bytes) {
    const parts = []
    let start = 0
    for (let i = 0; i + 4 <= bytes.length && parts.length < 3; i++) {
      if (bytes[i] === 0x0a && bytes[i + 1] === 0x25 && bytes[i + 2] === 0x25 && bytes[i + 3] === 0x0a) {
        parts.push(bytes.subarray(start, i + 1))
        start = i + 4
        i += 3
      }
    }
    parts.push(bytes.subarray(start))
    const questions = parts[3] ?? null
    while (parts.length < 3) parts.push(EMPTY)
    const files = parts.slice(0, 3)
    const loadAll = () => FILES.forEach((f, k) => assert.ok(loadBytes(engine, f, files[k]) >= 0, `load of ${f} failed`))
    loadAll()
    const lines = files.map(lineCount)
    checkDiagnostics(engine.diagnostics(), lines)

    const blocks = refParse(files[1], 32)
    const exact = blocks.length < 32
    const clients = []
    const domains = ['any']
    if (questions) {
      for (const q of splitLines(questions)) {
        if (domains.length > 24) break
        if (q.length < 64) clients.push(decode(q))
        const at = q.lastIndexOf(0x40)
        domains.push(decode(q.subarray(at + 1)))
      }
    }
    for (const b of blocks.slice(0, 6)) clients.push(...refEdges(b))

    const rounds = []
    for (let round = 0; round < 2; round++) {
      const s = engine.settings()
      const answers = { settings: s, rcpt: [], route: [], acl: [] }
      const byDomain = domains.map((d) => {
        if (d === null) return false // not UTF-8: cannot be asked through the loader
        const a = engine.rcpt(d)
        answers.rcpt.push(a)
        const r = engine.route(d)
        if (r.status === 'nexthop') checkRouteValue(r.nexthop)
        answers.route.push(r)
        return s.dest_domains && (a.action === 'accept' || a.action === 'continue')
      })
      for (const ip of clients) {
        if (ip === null) continue
        const m = engine.aclMatch(ip)
        answers.acl.push(m)
        const ref = refMatch(blocks, ip)
        if (!exact) continue
        assert.equal(m ? m.line : 0, Math.max(ref, 0), `client '${ip}': module ${JSON.stringify(m)}, reference ${ref}`)
        byDomain.forEach((viaDomain, k) => {
          const relays = s.all || (s.acl && m !== null) || viaDomain
          const allowed = s.all || (s.acl && ref > 0) || viaDomain
          assert.ok(!relays || allowed, `client '${ip}' relays to '${domains[k]}' but the reference refuses it`)
        })
      }
      rounds.push(answers)
      loadAll() // the same texts again: the same answers next round
    }
    assert.deepEqual(rounds[1], rounds[0], 'a reload of the same texts changed the answers')
    checkDiagnostics(engine.diagnostics(), lines)
    engine.load(ACL, '')
    for (const ip of clients) if (ip !== null) assert.equal(engine.aclMatch(ip), null, `empty ACL matched ${ip}`)
  },
}

/* ---- the reference config and its known answers ------------------------- */

const REF = {
  [INI]: '; the reference config of test/wasm-replay.test.js\n[relay]\nacl = false\nforce_routing = true\ndest_domains = yes\nall = off\ncolour = blue\n',
  [ACL]: '# reference\n192.0.2.0/24\n192.0.2.128/25\n10.0.0.0/8\n2001:db8::/32\n::ffff:203.0.113.0/120\n300.1.1.1\n198.51.100.7/24\n127.0.0.0/8\n',
  [DOMAINS]:
    '[domains]\n' +
    'accept.example = {"action":"accept"}\n' + // 2
    'Continue.Example = { "action": "continue", "nexthop": "192.0.2.25:2525" }\n' + // 3
    'deny.example = {"action":"deny"}\n' + // 4
    'route.example = {"nexthop":["smtp://mx.example:587","[2001:db8::25]:25"]}\n' + // 5
    'broken.example = {"action":\n' + // 6
    'badhop.example = {"action":"accept","nexthop":"mx.example:0"}\n' + // 7
    'any = {"nexthop":"smarthost.example:2525"}\n' + // 8
    'nested.example = {"action":"accept","x":[[{"y":[true,null,"s",1.5e3,{}]}]]}\n' + // 9
    'novalue.example\n', // 10
}
const REF_ERRORS = { [INI]: 0, [ACL]: 1, [DOMAINS]: 3 }
const REF_SETTINGS = { acl: false, force_routing: true, dest_domains: true, all: false }
const REF_ACL = {
  '192.0.2.1': 2,
  '192.0.2.200': 3,
  '::ffff:192.0.2.1': 2,
  '10.9.9.9': 4,
  '2001:db8::5': 5,
  '203.0.113.9': 6,
  '::ffff:203.0.113.9': 6,
  '198.51.100.1': 8,
  '127.0.0.1': 9,
  '8.8.8.8': null,
  '2001:db9::1': null,
  '300.1.1.1': null,
  'not-an-ip': null,
}
const ANY_ROUTE = { status: 'nexthop', key: 'any', line: 8, nexthop: 'smarthost.example:2525' }
// a listed domain without a nexthop goes by MX; `any` is for the others
const MX = { status: 'mx' }
const UNREAD = 'the entry cannot be read, so the route it meant is not known'
const REF_DOMAINS = {
  'accept.example': [{ action: 'accept', line: 2 }, MX],
  'CONTINUE.example': [{ action: 'continue', line: 3 }, { status: 'nexthop', key: 'continue.example', line: 3, nexthop: '192.0.2.25:2525' }],
  'deny.example': [{ action: 'deny', line: 4 }, MX],
  'route.example': [{ action: 'noaction', line: 5 }, { status: 'nexthop', key: 'route.example', line: 5, nexthop: ['smtp://mx.example:587', '[2001:db8::25]:25'] }],
  'broken.example': [{ action: 'invalid', line: 6 }, { status: 'invalid', key: 'broken.example', line: 6, why: UNREAD }],
  // a bad nexthop defers the route and leaves the action
  'badhop.example': [
    { action: 'accept', line: 7 },
    { status: 'invalid', key: 'badhop.example', line: 7, why: 'nexthop: port out of range 1-65535 (Haraka would silently drop it)' },
  ],
  any: [{ action: 'noaction', line: 8 }, ANY_ROUTE],
  'nested.example': [{ action: 'accept', line: 9 }, MX],
  'novalue.example': [{ action: 'invalid', line: 10 }, { status: 'invalid', key: 'novalue.example', line: 10, why: UNREAD }],
  'other.example': [{ action: 'unlisted', line: 0 }, ANY_ROUTE],
}
const REF_DIAGNOSTICS = [
  [INI, 7, 'warning', 'ini-unknown-key'],
  [ACL, 7, 'error', 'acl-bad-address'],
  [ACL, 8, 'warning', 'acl-host-bits'],
  [DOMAINS, 6, 'error', 'dest-bad-json'],
  [DOMAINS, 7, 'error', 'dest-bad-nexthop'],
  [DOMAINS, 9, 'warning', 'dest-unknown-key'],
  [DOMAINS, 10, 'error', 'dest-no-value'],
]

/* Everything the reference config answers, in one comparable object. */
function referenceAnswers(engine) {
  const errors = {}
  for (const f of FILES) errors[f] = engine.load(f, REF[f])
  const acl = {}
  for (const ip of Object.keys(REF_ACL)) acl[ip] = engine.aclMatch(ip)?.line ?? null
  const domains = {}
  for (const d of Object.keys(REF_DOMAINS)) domains[d] = [{ ...engine.rcpt(d) }, engine.route(d)]
  return { errors, settings: { ...engine.settings() }, acl, domains, diagnostics: engine.diagnostics() }
}

/* What a fresh instance answers: the known answers above, and the messages. */
const PRISTINE = referenceAnswers(newEngine())
const KNOWN = { errors: REF_ERRORS, settings: REF_SETTINGS, acl: REF_ACL, domains: REF_DOMAINS }

/* ---- running inputs ----------------------------------------------------- */

/* Runs each input's check, then the corruption detector, on one instance;
 * returns the failures, each { input, kind, message }. */
function replay(inputs, check) {
  const failures = []
  let engine = newEngine()
  for (const [name, input] of inputs) {
    let kind = 'input'
    try {
      try {
        check(engine, input)
      } catch (err) {
        if (err.name === 'RelayTrap') throw err
        failures.push({ input: name, kind: 'property', message: err.message.split('\n')[0] })
      }
      kind = 'reference'
      let changed
      try {
        changed = diffReference(referenceAnswers(engine))
      } catch (err) {
        if (err.name === 'RelayTrap') throw err
        changed = `${err.name}: ${err.message.split('\n')[0]}` // e.g. a report that is no longer JSON
      }
      if (changed) {
        failures.push({ input: name, kind: 'reference changed', message: changed })
        engine = newEngine() // judge the next input on a sound instance
      }
    } catch (err) {
      if (err.name !== 'RelayTrap') throw err
      failures.push({ input: name, kind: 'trap', message: `on ${kind === 'input' ? 'the input' : 'the reference config'}: ${err.message}` })
      engine = newEngine()
    }
  }
  return failures
}

/* Which answers of the reference config differ from a fresh instance's:
 * a short list, '' when none. */
function diffReference(got) {
  const out = []
  for (const key of ['errors', 'settings', 'acl']) {
    for (const k of Object.keys(PRISTINE[key])) {
      if (JSON.stringify(got[key][k]) !== JSON.stringify(PRISTINE[key][k])) out.push(`${key}.${k}: ${JSON.stringify(got[key][k])}`)
    }
  }
  for (const d of Object.keys(PRISTINE.domains)) {
    if (JSON.stringify(got.domains[d]) !== JSON.stringify(PRISTINE.domains[d])) out.push(`${d}: ${JSON.stringify(got.domains[d])}`)
  }
  if (JSON.stringify(got.diagnostics) !== JSON.stringify(PRISTINE.diagnostics)) {
    const list = got.diagnostics.map((x) => `${x.file}:${x.line}:${x.code}`).join(' ')
    out.push(`diagnostics: ${list.length > 300 ? `${list.slice(0, 300)}...` : list}`)
  }
  return out.join('; ')
}

function assertNoFailures(failures, total) {
  if (!failures.length) return
  const kinds = {}
  for (const f of failures) kinds[f.kind] = (kinds[f.kind] || 0) + 1
  // a few of each kind, the worst first: traps, then a reference config answered differently
  const rank = (kind) => ['trap', 'reference changed'].indexOf(kind) >>> 0
  const shown = Object.keys(kinds)
    .sort((a, b) => rank(a) - rank(b))
    .flatMap((kind) => failures.filter((f) => f.kind === kind).slice(0, 8))
    .map((f) => `  ${f.input}: [${f.kind}] ${f.message}`)
    .join('\n')
  assert.fail(`${failures.length} of ${total} inputs failed (${Object.entries(kinds).map(([k, n]) => `${k}: ${n}`).join(', ')}):\n${shown}`)
}

/* ---- JSON nested deep ----------------------------------------------------- */

const LEAVES = { number: '1', string: '"s"', true: 'true', false: 'false', null: 'null', object: '{}', array: '[]' }

/* Opening and closing text of one level of each shape (level i of a chain). */
const LEVEL = {
  arrays: () => ['[', ']'],
  objects: () => ['{"k":', '}'],
  mixed: (i) => (i % 2 ? ['{"k":', '}'] : ['[', ']']),
}

/* A value of `depth` containers in all (the leaf {} or [] counting as one):
 * an object holding the chain under "x", or (shape bare-array) the chain of
 * arrays alone, which is not an object even when shallow enough. */
function deepValue(shape, depth, leaf) {
  const leafText = LEAVES[leaf]
  const leafDepth = leaf === 'object' || leaf === 'array' ? 1 : 0
  const outer = shape === 'bare-array' ? 0 : 1
  const chain = depth - outer - leafDepth
  if (chain < 0 || (shape === 'bare-array' && chain === 0 && leaf !== 'array')) return null
  const level = LEVEL[shape === 'bare-array' ? 'arrays' : shape]
  const open = []
  const close = []
  for (let i = 0; i < chain; i++) {
    const [o, c] = level(i)
    open.push(o)
    close.push(c)
  }
  const inner = open.join('') + leafText + close.reverse().join('')
  return shape === 'bare-array' ? inner : `{"action":"accept","x":${inner}}`
}

function sweepDepths() {
  const depths = new Set([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48])
  for (let d = NESTING_LIMIT - 3; d <= NESTING_LIMIT + 3; d++) depths.add(d)
  for (let d = 64; d <= 100000; d = Math.ceil(d * 1.3)) depths.add(d)
  for (let d = 790; d <= 910; d++) depths.add(d) // where the stack of the module ran into its data
  for (const d of [999, 1000, 1001, 1024, 2048, 4096, 10000, 65536, 100000]) depths.add(d)
  return [...depths].filter((d) => d <= 100000).sort((a, b) => a - b)
}

/* The depth sweep's check: the deep entry gets its diagnostic on its own
 * line, the entries around it stay in force. */
function checkDeep(engine, { shape, depth, leaf, value }) {
  engine.load(INI, REF[INI]) // dest_domains on: no dest-domains-off warning
  const label = `${shape} ${depth} deep, leaf ${leaf}`
  const text = `[domains]\nbefore.example = {"action":"accept"}\ndeep.example = ${value}\nafter.example = {"action":"continue"}\n`
  const errors = engine.load(DOMAINS, text)
  const diags = engine.diagnostics().filter((d) => d.file === DOMAINS)
  const got = diags.map((d) => `${d.line}:${d.severity}:${d.code}`)
  if (depth > NESTING_LIMIT) {
    assert.deepEqual(got, ['3:error:dest-too-deep'], `${label}: ${got.join(' ')}`)
    assert.match(diags[0].message, new RegExp(`^value of 'deep\\.example' is nested deeper than ${NESTING_LIMIT} levels`))
    assert.equal(errors, 1)
    assert.deepEqual(engine.rcpt('deep.example'), { action: 'invalid', line: 3 })
    assert.deepEqual(engine.route('deep.example'), { status: 'invalid', key: 'deep.example', line: 3, why: UNREAD })
  } else if (shape === 'bare-array') {
    assert.deepEqual(got, ['3:error:dest-not-object'], `${label}: ${got.join(' ')}`)
    assert.deepEqual(engine.rcpt('deep.example'), { action: 'invalid', line: 3 })
  } else {
    assert.deepEqual(got, ['3:warning:dest-unknown-key'], `${label}: ${got.join(' ')}`)
    assert.equal(errors, 0)
    assert.deepEqual(engine.rcpt('deep.example'), { action: 'accept', line: 3 })
  }
  assert.deepEqual(engine.rcpt('before.example'), { action: 'accept', line: 2 })
  assert.deepEqual(engine.rcpt('after.example'), { action: 'continue', line: 4 })
}

/* ---- the suites --------------------------------------------------------- */

describe('relay.wasm replay', () => {
  it('the reference config gives its known answers on a fresh instance', () => {
    for (const key of Object.keys(KNOWN)) assert.deepEqual(PRISTINE[key], KNOWN[key], key)
    assert.deepEqual(
      PRISTINE.diagnostics.map((d) => [d.file, d.line, d.severity, d.code]),
      REF_DIAGNOSTICS,
    )
  })

  for (const target of Object.keys(TARGETS)) {
    it(`replays the seeds and regressions of fuzz_${target}`, () => {
      const dir = path.join(CORPUS, target)
      const inputs = fs
        .readdirSync(dir)
        .sort()
        .map((f) => [`${target}/${f}`, new Uint8Array(fs.readFileSync(path.join(dir, f)))])
      assert.ok(inputs.length > 0, `no inputs in ${dir}`)
      assertNoFailures(replay(inputs, TARGETS[target]), inputs.length)
    })
  }

  for (const shape of ['arrays', 'objects', 'mixed', 'bare-array']) {
    it(`refuses JSON nested deeper than ${NESTING_LIMIT} on its line, and nothing else changes (${shape}, depths 1-100,000, every leaf)`, () => {
      const inputs = []
      for (const depth of sweepDepths()) {
        for (const leaf of Object.keys(LEAVES)) {
          const value = deepValue(shape, depth, leaf)
          if (value !== null) inputs.push([`${shape} ${depth} deep, leaf ${leaf}`, { shape, depth, leaf, value }])
        }
      }
      assertNoFailures(replay(inputs, checkDeep), inputs.length)
    })
  }

  it('issue 9: a deep value does not turn acl off after relay.ini is read again', () => {
    const ini = '[relay]\nacl=false\n'
    const inputs = []
    for (let depth = 780; depth <= 920; depth++) inputs.push([`${depth} deep`, depth])
    const failures = []
    for (const [name, depth] of inputs) {
      const engine = newEngine()
      try {
        engine.load(INI, ini)
        engine.load(ACL, '127.0.0.0/8\n')
        engine.load(DOMAINS, `[domains]\nnote.example = {"x":${'['.repeat(depth)}${'1'.repeat(40)}${']'.repeat(depth)}}\n`)
        engine.load(INI, ini)
        const settings = engine.settings()
        assert.deepEqual(settings, { acl: false, force_routing: false, dest_domains: false, all: false }, `settings ${JSON.stringify(settings)}`)
        assert.equal(engine.aclMatch('127.0.0.1')?.line, 1, 'ACL')
        const diags = engine.diagnostics().map((d) => `${d.file}:${d.line}:${d.code}`)
        assert.deepEqual(diags, [`${DOMAINS}:2:dest-too-deep`, `${DOMAINS}:2:dest-domains-off`], diags.join(' '))
      } catch (err) {
        failures.push({ input: name, kind: err.name === 'RelayTrap' ? 'trap' : 'wrong answer', message: err.message.split('\n')[0] })
      }
    }
    assertNoFailures(failures, inputs.length)
  })
})
