/*
 * bench/run.js - relay-wasm against haraka-plugin-relay 1.0.2, same inputs,
 * same process run per table.  `npm run bench` (all sizes, writes
 * bench/RESULTS.md, all of it from that one run); `node bench/run.js
 * --quick` (tiny sizes, no file; npm test runs it so the script cannot
 * rot); `--only=acl,rcpt,suffix,load,domains,memory,callgrind,server,reloader,reload`
 * runs those
 * tables only and writes no file.
 *
 * Each figure is the median of several timed batches; a batch runs the
 * operation enough times to last a few milliseconds.  Ratio = theirs / ours
 * (above 1: relay-wasm is faster) unless the table says otherwise.
 * relay-wasm keeps no answers between questions (every one is a call into
 * the module), nor does haraka-plugin-relay 1.0.2 (an object lookup and
 * JSON.parse every time): no figure here comes from a cache of answers.
 */
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ipaddr = require('ipaddr.js')
const iniReader = require('haraka-config/lib/readers/ini.js')
const constants = require('haraka-constants')

const { createEngine, WASM_PATH } = require('../js/engine')
const reloader = require('../js/reloader')

iniReader.logger = () => {}
for (const k of ['OK', 'CONT', 'DENY', 'DENYSOFT']) globalThis[k] = constants[k.toLowerCase()]

const args = process.argv.slice(2)
const QUICK = args.includes('--quick')
const SIZES = QUICK ? [1, 100] : [1, 100, 10000, 100000, 1000000]
const RESULTS = path.join(__dirname, 'RESULTS.md')

/* ---- timing ---------------------------------------------------------- */

const now = () => Number(process.hrtime.bigint()) / 1e6 // ms

/* Median time of one call of fn, in nanoseconds.  budgetMs bounds the whole
 * measurement, so the 1.0.2 plugin at a million entries (about 2 s a call)
 * still finishes. */
function timeOp(fn, { budgetMs = QUICK ? 20 : 300, batches = QUICK ? 3 : 7 } = {}) {
  // how many calls fill ~1/batches of the budget
  // warm up (JIT tiers, caches) for a quarter of the budget, counting calls
  let n = 0
  let t0 = now()
  do fn(n++)
  while (now() - t0 < budgetMs / 4 && n < 1e6)
  const one = (now() - t0) / n
  const per = budgetMs / batches
  n = Math.max(1, Math.min(1e6, Math.floor(per / Math.max(one, 1e-4))))
  const samples = []
  const deadline = now() + budgetMs * 3
  for (let b = 0; b < batches && (b < 3 || now() < deadline); b++) {
    t0 = now()
    for (let i = 0; i < n; i++) fn(i)
    samples.push(((now() - t0) / n) * 1e6)
  }
  samples.sort((a, b) => a - b)
  return samples[samples.length >> 1]
}

function fmtNs(ns) {
  if (ns < 1000) return `${ns.toFixed(0)} ns`
  if (ns < 1e6) return `${(ns / 1000).toFixed(2)} µs`
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`
  return `${(ns / 1e9).toFixed(2)} s`
}
const ratio = (theirs, ours) => `${(theirs / ours).toFixed(theirs / ours >= 100 ? 0 : 2)}×`

/* ---- inputs ---------------------------------------------------------- */

function rng(seed) {
  let s = seed >>> 0
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

/* n distinct entries of one family: IPv4 /24-/32 blocks spread over the
 * space, or IPv6 /48-/128 under 2001:db8::/32. */
function aclEntries(n, family, seed = 1) {
  const r = rng(seed)
  const out = new Set()
  while (out.size < n) {
    if (family === 4) {
      const prefix = 24 + (r() % 9)
      const a = r() & (prefix === 32 ? 0xffffffff : ~((1 << (32 - prefix)) - 1))
      const v = a >>> 0
      out.add(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${prefix}`)
    } else {
      const prefix = 48 + (r() % 81)
      const g = [0x2001, 0xdb8]
      for (let i = 2; i < 8; i++) g.push(r() & 0xffff)
      const addr = ipaddr.fromByteArray(ipaddr.IPv6.parse(g.map((x) => x.toString(16)).join(':')).toByteArray())
      const net = ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${prefix}`)
      out.add(`${net}/${prefix}`)
    }
  }
  return [...out]
}

/* A client inside entry e, and one the engine says no entry holds. */
function clients(entries, engine, family, count = 64, seed = 7) {
  const r = rng(seed)
  const hits = []
  const misses = []
  for (let i = 0; hits.length < count && i < count * 4; i++) {
    const [net, len] = ipaddr.parseCIDR(entries[r() % entries.length])
    const bytes = net.toByteArray()
    for (let bit = len; bit < bytes.length * 8; bit++) if (r() & 1) bytes[bit >> 3] ^= 0x80 >> (bit & 7)
    hits.push(ipaddr.fromByteArray(bytes).toString())
  }
  for (let i = 0; misses.length < count && i < count * 100; i++) {
    const ip =
      family === 4
        ? [r() & 255, r() & 255, r() & 255, r() & 255].join('.')
        : ipaddr.fromByteArray([0x20, 0x01, 0x0d, 0xb8, ...Array.from({ length: 12 }, () => r() & 255)]).toString()
    if (!engine.aclMatch(ip)) misses.push(ip)
  }
  return { hits, misses }
}

/* relay_dest_domains.ini of n entries, one in five with a nexthop. */
const domainName = (i) => `d${i}.example${i % 97}.com`
function domainLines(n) {
  const lines = ['[domains]']
  const actions = ['accept', 'continue', 'deny']
  for (let i = 0; i < n; i++) {
    lines.push(
      i % 5 === 0
        ? `${domainName(i)} = { "action": "${actions[i % 3]}", "nexthop": "mx${i % 13}.example.net:25" }`
        : `${domainName(i)} = { "action": "${actions[i % 3]}" }`,
    )
  }
  return lines.join('\n') + '\n'
}

const mb = (bytes) => (bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`)
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]

/* ---- the two plugins, through their hook functions -------------------- */

function ourPlugin(files) {
  const plugin = Object.create(require('../index.js'))
  plugin.name = 'relay-wasm'
  for (const l of ['logdebug', 'loginfo', 'lognotice', 'logwarn', 'logerror', 'logcrit']) plugin[l] = () => {}
  // Haraka's logger at NOTICE: the INFO reason line of each recipient is
  // not built (at INFO it is; the server table runs a whole Haraka at WARN)
  plugin.haraka_logger = { would_log: () => false, LOGINFO: 6 }
  plugin.config = {
    get: (name) => (files[name] == null ? null : Buffer.from(files[name])),
  }
  plugin.register_hook = () => {}
  plugin.register()
  return plugin
}

function theirPlugin(files) {
  const plugin = Object.create(require('haraka-plugin-relay'))
  plugin.name = 'relay'
  for (const l of ['logdebug', 'loginfo', 'logwarn', 'logerror']) plugin[l] = () => {}
  plugin.config = {
    get: (name, type) => {
      const text = files[name] ?? ''
      if (name === 'relay.ini') return iniReader.parseIni(name, type, text)
      if (type === 'list') return text.split(/\r\n|\r|\n/).filter((l) => l.trim() && !/^\s*[;#]/.test(l)).map((l) => l.trim())
      return iniReader.parseIni(name, {}, text)
    },
  }
  plugin.register_hook = () => {}
  plugin.register()
  return plugin
}

const noop = () => {}
function connection(ip) {
  return {
    remote: { ip },
    relaying: false,
    results: { add: noop },
    logdebug: noop,
    loginfo: noop,
    logerror: noop,
    transaction: { results: { add: noop }, notes: {} },
  }
}

/* ---- tables ---------------------------------------------------------- */

const tables = []
function table(title, head, rows, note = '') {
  tables.push({ title, head, rows, note })
  console.log(`\n${title}`)
  console.log(head.join(' | '))
  for (const r of rows) console.log(r.join(' | '))
}

function aclTable() {
  const rows = []
  for (const family of [4, 6]) {
    for (const n of SIZES) {
      const entries = aclEntries(n, family)
      const files = { 'relay.ini': '[relay]\nacl=true\n', relay_acl_allow: entries.join('\n') + '\n' }
      const ours = ourPlugin(files)
      const theirs = theirPlugin(files)
      const { hits, misses } = clients(entries, ours.engine, family)
      for (const [kind, ips] of [
        ['hit', hits],
        ['miss', misses],
      ]) {
        const conns = ips.map(connection)
        const run = (p) => (i) => {
          const c = conns[i % conns.length]
          c.relaying = false
          p.acl(noop, c)
        }
        // both must agree before they are timed
        for (const c of conns.slice(0, 4)) {
          c.relaying = false
          ours.acl(noop, c)
          const a = c.relaying
          c.relaying = false
          theirs.acl(noop, c)
          if (a !== c.relaying || a !== (kind === 'hit')) throw new Error(`plugins disagree on ${c.remote.ip}`)
        }
        const o = timeOp(run(ours))
        const t = timeOp(run(theirs), { budgetMs: QUICK ? 20 : n >= 100000 ? 4000 : 400 })
        rows.push([`IPv${family}`, n.toLocaleString('en'), kind, fmtNs(o), fmtNs(t), ratio(t, o)])
      }
    }
  }
  table('ACL check per connection (connect_init hook)', ['family', 'entries', 'client', 'relay-wasm', 'haraka-plugin-relay', 'ratio'], rows)
}

/* Median time of one question, in ns, asked in blocks of 1,000: each
 * block's questions are made first (fresh strings, as Haraka makes a new
 * one from every RCPT line), then timed. */
function timeBlocks(ask, makeBlock, blocks) {
  const times = []
  for (let b = 0; b < blocks + 3; b++) {
    const qs = makeBlock()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < qs.length; i++) ask(qs[i], i)
    const t = Number(process.hrtime.bigint() - t0) / qs.length
    if (b >= 3) times.push(t) // the first blocks warm up
  }
  return median(times)
}

const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1') // a flat string of its own

function rcptTable() {
  const rows = []
  const blocks = QUICK ? 3 : 150
  for (const n of SIZES) {
    const files = { 'relay.ini': '[relay]\nacl=false\ndest_domains=true\n', 'relay_dest_domains.ini': domainLines(n) }
    const ours = ourPlugin(files)
    const theirs = theirPlugin(files)
    const conns = Array.from({ length: 1000 }, () => connection('192.0.2.1'))
    const run = (p) => (params, i) => {
      const c = conns[i]
      c.relaying = false
      c.transaction.notes = {}
      p === ours ? p.rcpt(noop, c, params) : p.dest_domains(noop, c, params)
    }
    // repeated: 64 domains, half listed; distinct: never asked before in
    // this run (listed ones walk all entries in a scattered order)
    const repeated = Array.from({ length: 64 }, (_, i) => (i & 1 ? domainName((i * 7919) % n) : `x${i}.example.org`))
    const stride = 2654435761 % n || 1
    let next = 0
    let unlisted = 0
    const kinds = [
      ['repeated, half listed', () => Array.from({ length: 1000 }, (_, i) => [{ host: fresh(repeated[i & 63]) }])],
      ['distinct, listed', () => Array.from({ length: 1000 }, () => [{ host: fresh(domainName((next = (next + stride) % n))) }])],
      ['distinct, not listed', () => Array.from({ length: 1000 }, () => [{ host: fresh(`u${unlisted++}.example${unlisted % 97}.org`) }])],
    ]
    for (const [, make] of kinds) {
      // warm up: every path of both compiled before anything is timed
      for (let b = 0; b < (QUICK ? 2 : 20); b++) make().forEach((params, i) => (run(ours)(params, i), run(theirs)(params, i)))
    }
    for (const [kind, make] of kinds) {
      // both must agree before they are timed
      for (const params of make().slice(0, 8)) {
        const a = conns[0]
        a.relaying = false
        a.transaction.notes = {}
        let ra
        let rb
        ours.rcpt((rc) => (ra = rc ?? constants.cont), a, params) // next() is CONT
        a.relaying = false
        a.transaction.notes = {}
        theirs.dest_domains((rc) => (rb = rc ?? constants.cont), a, params)
        if (ra !== rb) throw new Error(`plugins disagree on ${params[0].host}: ${ra} ${rb}`)
      }
      const o = timeBlocks(run(ours), make, blocks)
      const t = timeBlocks(run(theirs), make, blocks)
      // the decision alone: the module's answer, and 1.0.2's object lookup and JSON.parse
      const oe = timeBlocks((params) => ours.engine.rcpt(params[0].host), make, blocks)
      const te = timeBlocks((params) => {
        const v = theirs.dest.domains[params[0].host]
        return v ? JSON.parse(v).action : undefined
      }, make, blocks)
      rows.push([n.toLocaleString('en'), kind, fmtNs(o), fmtNs(t), ratio(t, o), fmtNs(oe), fmtNs(te), ratio(te, oe)])
    }
  }
  table(
    'rcpt decision, not from a cache: the rcpt hook, and the decision alone',
    ['domains', 'recipients asked', 'hook: relay-wasm', 'hook: haraka-plugin-relay', 'ratio', 'decision: relay-wasm (engine.rcpt)', 'decision: 1.0.2 (lookup + JSON.parse)', 'ratio'],
    rows,
    'Neither plugin keeps answers: relay-wasm asks the module every time (no cache since issue 12), 1.0.2 looks the domain up in the object haraka-config made and runs JSON.parse on its value. "hook": the whole hook function as Haraka calls it (results, grants, the answer; the rcpt hook of relay-wasm, which decides dest_domains and all in one, with the log of Haraka at NOTICE so that the INFO reason line is not built; the dest_domains hook of 1.0.2); "decision": what relay_dest_domains.ini says of the domain, nothing else. Every question is a new string, made just before its block of 1,000 is timed. "distinct": no domain is asked twice in the run (at 1,000,000 entries the listed ones are spread over the whole table, so most lookups miss the CPU caches).',
  )
}

/* Subdomain keys (issue 14): a recipient costs one lookup of its name and,
 * when the file has any subdomain key, one per parent (.b.c.d, .c.d, ...),
 * longest first, up to the first hit.  Files of n keys `.sN.exampleK.com`
 * (or n exact keys `sN.exampleK.com`, for comparison), asked names never
 * asked before, 3 labels below a key: aM.b.c.sN.exampleK.com. */
function suffixTable() {
  const rows = []
  const blocks = QUICK ? 3 : 150
  const key = (i) => `s${i}.example${i % 97}.com`
  // every depth: keys of 1, 2, 4, 5 and 6 labels too (under .zz), so that
  // every parent of a name asked is looked up (the bound)
  const EVERY_DEPTH = ['.zz', '.y.zz', '.w.x.y.zz', '.v.w.x.y.zz', '.u.v.w.x.y.zz']
  const file = (n, dot, extra = []) => {
    const lines = ['[domains]']
    for (let i = 0; i < n; i++) lines.push(`${dot}${key(i)} = { "action": "accept" }`)
    for (const k of extra) lines.push(`${k} = { "action": "deny" }`)
    return lines.join('\n') + '\n'
  }
  for (const n of SIZES) {
    const suffixes = createEngine()
    suffixes.load('relay_dest_domains.ini', file(n, '.'))
    const everyDepth = createEngine()
    everyDepth.load('relay_dest_domains.ini', file(n, '.', EVERY_DEPTH))
    const exact = createEngine()
    exact.load('relay_dest_domains.ini', file(n, ''))
    const stride = 2654435761 % n || 1
    let next = 0
    let asked = 0
    // distinct names: a fresh first label each time, keys spread over the table
    const below = (tld) => () => Array.from({ length: 1000 }, () => fresh(`a${asked++}.b.c.${key((next = (next + stride) % n)).replace(/com$/, tld)}`))
    const listed = () => Array.from({ length: 1000 }, () => fresh(key((next = (next + stride) % n))))
    const kinds = [
      ['subdomain keys (all of 3 labels)', '3 labels below a key (aM.b.c.sN.exampleK.com), the last lookup a hit', suffixes, below('com'), 'accept', 2],
      ['subdomain keys (all of 3 labels)', 'under no key (aM.b.c.sN.exampleK.org)', suffixes, below('org'), 'unlisted', 2],
      ['subdomain keys of every depth 1-6', '3 labels below a key (aM.b.c.sN.exampleK.com), the last lookup a hit', everyDepth, below('com'), 'accept', 4],
      ['subdomain keys of every depth 1-6', 'under no key (aM.b.c.sN.exampleK.org), every lookup a miss', everyDepth, below('org'), 'unlisted', 6],
      ['exact keys only', 'the name of a key (sN.exampleK.com)', exact, listed, 'accept', 1],
      ['exact keys only', '3 labels below a name (aM.b.c.sN.exampleK.com): not listed, no parent looked up', exact, below('com'), 'unlisted', 1],
    ]
    for (const [, , engine, make, want] of kinds) {
      for (let b = 0; b < (QUICK ? 2 : 20); b++) for (const d of make()) engine.rcpt(d) // warm up
      for (const d of make().slice(0, 16)) if (engine.rcpt(d).action !== want) throw new Error(`${d}: ${engine.rcpt(d).action}, not ${want}`)
    }
    for (const [file, kind, engine, make, , lookups] of kinds) {
      const t = timeBlocks((d) => engine.rcpt(d), make, blocks)
      rows.push([n.toLocaleString('en'), file, kind, String(lookups), fmtNs(t)])
    }
  }
  table(
    'Subdomain keys: the rcpt decision (engine.rcpt), not from a cache',
    ['keys', 'file', 'recipient domain', 'hash lookups', 'relay-wasm'],
    rows,
    'A key with a leading dot (`.sN.exampleK.com = { "action": "accept" }`) is the entry of every name under it. A recipient domain is looked up as it is, then, only in a file that has a subdomain key, each parent with its leading dot, longest first, up to the first hit, and only a parent with as many labels as some subdomain key has: at most one lookup per label. "Every depth": the same file with five keys more, of 1, 2, 4, 5 and 6 labels (under .zz, matching none of the names asked), so that every parent of aM.b.c.sN.exampleK.com is looked up. Every question is a new name, never asked before in the run (a fresh first label), made just before its block of 1,000 is timed; at 1,000,000 keys the keys asked are spread over the whole table. Median ns per question. haraka-plugin-relay 1.0.2 has no such keys (it never matches a key with a leading dot).',
  )
}

function loadTable() {
  const rows = []
  for (const n of SIZES) {
    const acl = aclEntries(n, 4).join('\n') + '\n'
    const engine = createEngine()
    const theirs = theirPlugin({ relay_acl_allow: '', 'relay_dest_domains.ini': '' })
    const budget = { budgetMs: QUICK ? 20 : 1000, batches: n >= 100000 ? 3 : 5 }
    const oa = timeOp(() => engine.load('relay_acl_allow', acl), budget)
    theirs.config.get = (name, type) => (type === 'list' ? acl.split('\n').filter((l) => l.trim()).map((l) => l.trim()) : null)
    const ta = timeOp(() => theirs.load_acls(), budget)
    rows.push([n.toLocaleString('en'), fmtNs(oa), fmtNs(ta), ratio(ta, oa)])
  }
  const mod = new WebAssembly.Module(fs.readFileSync(WASM_PATH))
  const inst = timeOp(() => new WebAssembly.Instance(mod, {}))
  const create = timeOp(() => createEngine())
  table(
    'Load time of relay_acl_allow (IPv4)',
    ['entries', 'relay-wasm', 'haraka-plugin-relay (list + load_acls)', 'ratio'],
    rows,
    `Instantiating relay.wasm: ${fmtNs(inst)} (new WebAssembly.Instance); a whole engine (instance + relay_new): ${fmtNs(create)}.`,
  )
}

/* A full garbage collection, between measurements (not in them): what the
 * tables before left behind (a million-key object of 1.0.2's) is not
 * collected in the middle of a load. */
const gc = (() => {
  require('node:v8').setFlagsFromString('--expose_gc')
  return require('node:vm').runInNewContext('gc')
})()

/* Milliseconds of each of `runs` calls of fn (after one unmeasured), each
 * after a full garbage collection. */
function times(fn, runs) {
  fn()
  const out = []
  for (let i = 0; i < runs; i++) {
    gc()
    const t0 = now()
    fn()
    out.push(now() - t0)
  }
  return out
}

function domainsLoadTable() {
  const rows = []
  // warm up: V8 runs new wasm code unoptimized first and optimizes what is
  // hot; the figures are those of a running server, after that
  const warm = domainLines(QUICK ? 100 : 100000)
  const w = createEngine()
  for (let i = 0; i < (QUICK ? 2 : 12); i++) w.load('relay_dest_domains.ini', warm)
  for (const n of SIZES) {
    const text = domainLines(n)
    const runs = QUICK ? 3 : n >= 1000000 ? 7 : 9
    // a first load: a fresh engine each time
    const first = median(times(() => createEngine().load('relay_dest_domains.ini', text), runs))
    // a reload: the same engine, which already holds the file
    const engine = createEngine()
    const again = median(times(() => engine.load('relay_dest_domains.ini', text), runs))
    const theirs = median(times(() => iniReader.parseIni('relay_dest_domains.ini', {}, text), runs))
    rows.push([
      n.toLocaleString('en'),
      mb(text.length),
      fmtNs(first * 1e6),
      fmtNs(again * 1e6),
      `${((first * 1e6) / Math.max(n, 1)).toFixed(0)} ns`,
      fmtNs(theirs * 1e6),
      `${(first / theirs).toFixed(2)}×`,
    ])
  }
  table(
    'Load time of relay_dest_domains.ini',
    ['entries', 'file', 'relay-wasm, first load', 'relay-wasm, reload', 'first load per entry', 'haraka-config INI reader', 'relay-wasm / haraka-config'],
    rows,
    'Each entry `dN.exampleK.com = { "action": ... }`, one in five with a "nexthop". After a warm-up (V8 optimizes the module\'s hot code after it has run a while). A first load is a fresh engine (instance, then load); a reload is a load into an engine that holds the same file already; both include encoding the text into the module. Each run of either side after a full garbage collection (medians of 7 to 9 runs). haraka-plugin-relay 1.0.2 parses each JSON value at RCPT time, so its column is the INI reader alone, and here the ratio is relay-wasm / haraka-config (below 1: relay-wasm is faster). Not from a cache: every load parses the whole text.',
  )
}

/* Linear memory of an engine's instance after fn(engine). */
function memoryOf(fn) {
  const e = createEngine()
  fn(e)
  return e.exports.memory.buffer.byteLength
}

/* Resolves when the reloader has made `text` ready and the engine has it in
 * force; { ms, image } (image: the bytes of the instance the worker built). */
function reloadThroughWorker(engine, file, text) {
  return new Promise((resolve, reject) => {
    const t0 = now()
    const took = reloader.defer(engine, file, text, (err) => {
      if (err) return reject(err)
      const image = engine._ready?.instance.exports.memory.buffer.byteLength
      engine.load(file, text)
      resolve({ ms: now() - t0, image })
    })
    if (!took) reject(new Error('the reloader did not take the text'))
  })
}

async function memoryTable() {
  const sizes = QUICK ? [1000] : [100000, 1000000]
  const base = memoryOf(() => {})
  const rows = []
  const saved = reloader.settings.minChars
  reloader.settings.minChars = 0 // through the worker, whatever the size
  try {
    for (const n of sizes) {
      for (const family of [4, 6]) {
        const text = aclEntries(n, family).join('\n') + '\n'
        const mem = memoryOf((e) => e.load('relay_acl_allow', text))
        rows.push([`relay_acl_allow, IPv${family}`, n.toLocaleString('en'), mb(text.length), 'first load', mb(mem), `${((mem - base) / n).toFixed(1)} B`, `${(mem / text.length).toFixed(2)}×`])
      }
      const text = domainLines(n)
      const row = (how, mem) => rows.push(['relay_dest_domains.ini', n.toLocaleString('en'), mb(text.length), how, mb(mem), `${((mem - base) / n).toFixed(1)} B`, `${(mem / text.length).toFixed(2)}×`])
      row('first load', memoryOf((e) => e.load('relay_dest_domains.ini', text)))
      row('reload in the same instance', memoryOf((e) => (e.load('relay_dest_domains.ini', text), e.load('relay_dest_domains.ini', text))))
      const e = createEngine()
      e.load('relay_dest_domains.ini', text)
      const { image } = await reloadThroughWorker(e, 'relay_dest_domains.ini', text)
      row('reload through the worker: the instance that parses', image)
      row('reload through the worker: the instance in force after it', e.exports.memory.buffer.byteLength)
    }
  } finally {
    reloader.settings.minChars = saved
  }
  table(
    'Linear memory of the module (high-water mark, the text passed in included)',
    ['file', 'entries', 'file size', 'when', 'linear memory', 'per entry', 'of the file size'],
    rows,
    `relay.wasm: ${fs.statSync(WASM_PATH).size.toLocaleString('en')} bytes; an empty instance: ${(base / 1024).toFixed(0)} KiB. A module's memory never shrinks, so this is the peak. A reload in the same instance holds the old file's state and the new one at once; through the reloader (js/reloader.js, what the plugin does for a big file) the parsing is done by a fresh instance in a worker thread, and the instance in force afterwards is a copy of it, while the old one is dropped. relay_dest_domains.ini's text is kept (its common entries point into it).`,
  )
}

/* Instructions per lookup in the native build, counted by callgrind: a
 * figure that does not move with the machine's load. */
function callgrindTable() {
  const { spawnSync } = require('node:child_process')
  const root = path.join(__dirname, '..')
  if (spawnSync('sh', ['-c', 'command -v valgrind'], { stdio: 'ignore' }).status !== 0) {
    console.error('valgrind not found: apt-get install -y valgrind')
    process.exit(1)
  }
  for (const a of [['--preset', 'bench', '-Wno-dev'], ['--build', '--preset', 'bench', '--target', 'bench_lookup']]) {
    const r = spawnSync('cmake', a, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
    if (r.status !== 0) throw new Error(`cmake ${a.join(' ')} failed`)
  }
  const bin = path.join(root, 'build', 'bench', 'bench_lookup')
  const K = 10000
  const rows = []
  for (const n of SIZES) {
    const row = [n.toLocaleString('en')]
    for (const mode of ['acl', 'rcpt']) {
      const out = path.join(os.tmpdir(), `relay-cg-${process.pid}.out`)
      const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--collect-atstart=no', '--toggle-collect=run_lookups', bin, mode, String(n), String(K)], { encoding: 'utf8' })
      fs.rmSync(out, { force: true })
      const m = /Collected : (\d+)/.exec(r.stderr)
      if (!m) throw new Error(`callgrind gave no count: ${r.stderr.slice(-500)}`)
      row.push(String(Math.round(Number(m[1]) / K)))
    }
    rows.push(row)
  }
  table(
    'Instructions per lookup (native build, valgrind --tool=callgrind, half hits and half misses)',
    ['entries', 'ACL lookup', 'domain lookup'],
    rows,
    'From bench/lookup.c: parsing the address or domain text included, JS and the wasm boundary not.',
  )
}

async function serverTable() {
  const { compareRates } = require('./server')
  const seconds = QUICK ? 1 : 5
  const rounds = QUICK ? 1 : 5
  const rows = []
  const rate = (x) => `${x.toFixed(x < 10 ? 1 : 0)}`
  const row = (acl, domains, name, ours, other) =>
    rows.push([acl.toLocaleString('en'), domains.toLocaleString('en'), name, rate(ours.conns), rate(other.conns), `${(ours.conns / other.conns).toFixed(2)}×`, rate(ours.rcpts), rate(other.rcpts), `${(ours.rcpts / other.rcpts).toFixed(2)}×`])
  // relay-wasm and 1.0.2, as ACL lists grow
  for (const n of QUICK ? [1, 100] : [1, 100000]) {
    const [ours, theirs] = await compareRates({
      configs: [
        { plugin: 'relay-wasm', aclEntries: n, domainEntries: 1 },
        { plugin: 'relay', aclEntries: n, domainEntries: 1 },
      ],
      seconds: n >= 100000 ? Math.max(seconds, 10) : seconds, // 1.0.2 makes a few connections a second there
      rounds: n >= 100000 ? Math.min(rounds, 3) : rounds,
    })
    row(n, 1, 'haraka-plugin-relay 1.0.2', ours, theirs)
  }
  // relay-wasm with a million of each against no relay plugin at all
  const big = QUICK ? 100 : 1000000
  const [ours, none, rcptOnly, hooks] = await compareRates({
    configs: [
      { plugin: 'relay-wasm', aclEntries: big, domainEntries: big },
      { plugin: null, aclEntries: big, domainEntries: big },
      { plugin: 'bench_rcpt', aclEntries: big, domainEntries: big },
      { plugin: 'bench_hooks', aclEntries: big, domainEntries: big },
    ],
    seconds,
    rounds,
  })
  row(big, big, 'no relay plugin (the ceiling; recipients refused by Haraka: 550)', ours, none)
  row(big, big, 'a plugin with one rcpt hook that accepts every recipient (250)', ours, rcptOnly)
  row(big, big, "a plugin with relay-wasm's hooks that does nothing but accept (250)", ours, hooks)
  table(
    'Whole server: a real Haraka on loopback (4 concurrent clients)',
    ['ACL entries', 'domains', 'against', 'conn/s relay-wasm', 'conn/s the other', 'ratio', 'rcpt/s relay-wasm', 'rcpt/s the other', 'ratio'],
    rows,
    `Here ratio = relay-wasm / the other (a rate: above 1, relay-wasm is faster). The Harakas compared run at once and are measured in turns, ${rounds} round${rounds === 1 ? '' : 's'} of ${seconds} s each (10 s for 1.0.2 at 100,000), the order turned each round, each measurement from client addresses of its own; medians. Connections: greeting, EHLO, QUIT from clients the last relay_acl_allow entry lists. Recipients: sessions of 50 RCPT TO a domain listed as accept, from clients outside the ACL (each recipient decided by the plugin; no answer is cached). haraka-plugin-relay 1.0.2 is not run with a million ACL entries (it reads every entry on every connection: a few seconds each). The two reference plugins do no work: one has a single rcpt hook that accepts; the other registers relay-wasm's hooks (connect_init, connect, rcpt, rcpt_ok, deny, data, get_mx) and accepts every recipient: what Haraka itself costs any plugin of that shape.`,
  )
}

/* The reloader alone (no Haraka): the event loop delay while a file of n
 * entries is made ready in the worker and put in force. */
async function reloaderTable() {
  const { monitorEventLoopDelay } = require('node:perf_hooks')
  const { aclFile, domainsFile, iniFile } = require('./server')
  const n = QUICK ? 1000 : 1000000
  const saved = reloader.settings.minChars
  if (QUICK) reloader.settings.minChars = 0
  const rows = []
  try {
    for (const [file, make] of [
      ['relay_dest_domains.ini', domainsFile],
      ['relay_acl_allow', aclFile],
      ['relay.ini', iniFile],
    ]) {
      const engine = createEngine()
      for (const [f, m] of [['relay.ini', iniFile], ['relay_acl_allow', aclFile], ['relay_dest_domains.ini', domainsFile]]) engine.load(f, m(n))
      const text = make(n, true)
      const sync = median(times(() => createEngine().load(file, text), QUICK ? 1 : 3))
      const h = monitorEventLoopDelay({ resolution: 1 })
      h.enable()
      const { ms } = await reloadThroughWorker(engine, file, text)
      h.disable()
      rows.push([file, mb(text.length), `${sync.toFixed(0)} ms`, `${ms.toFixed(0)} ms`, `${(h.max / 1e6).toFixed(1)} ms`, `${(h.percentile(99) / 1e6).toFixed(1)} ms`])
    }
  } finally {
    reloader.settings.minChars = saved
  }
  table(
    `The reloader alone: a file of ${n.toLocaleString('en')} entries made ready off the event loop (no Haraka)`,
    ['file', 'text', 'load on the event loop (first load)', 'through the reloader, until in force', 'event loop delay: max', 'p99'],
    rows,
    'js/reloader.js as the plugin uses it: the texts encoded in slices, parsed by a fresh instance in a worker thread (with the other two files), its memory copied into a fresh instance here in 1 MiB slices, then swapped in. The engine holds a million entries in each of the three files; the event loop delay is measured in this process (perf_hooks.monitorEventLoopDelay) from the start of the reload until it is in force.',
  )
}

async function reloadTable() {
  const { reloadStall } = require('./server')
  const entries = QUICK ? 1000 : 1000000
  const seconds = QUICK ? 0.5 : 10
  const results = await reloadStall({ entries, seconds })
  const ms = (x) => `${x.toFixed(1)} ms`
  const rows = results.map((r) => [
    r.file,
    `${ms(r.quiet.p50)} / ${ms(r.quiet.p99)} / ${ms(r.quiet.max)}`,
    `${ms(r.during.p50)} / ${ms(r.during.p99)} / ${ms(r.during.max)}`,
    ms(r.during.max - r.quiet.max),
    `${ms(r.quietEld.max)} / ${ms(r.reloadEld.max)}`,
    `${(r.reloadMs / 1000).toFixed(1)} s`,
  ])
  table(
    `Reload under load: each file rewritten with ${entries.toLocaleString('en')} entries in a running Haraka`,
    ['file reloaded', 'RCPT latency, no reload: p50 / p99 / max', 'RCPT latency, during the reload: p50 / p99 / max', 'max, during - no reload', 'event loop delay max, no reload / reload', 'write to in force'],
    rows,
    `One Haraka with relay-wasm and ${entries.toLocaleString('en')} entries in each of relay.ini (keys of a section it does not read), relay_acl_allow and relay_dest_domains.ini; 4 clients send RCPT TO a listed domain (answered 250 from the module, no cache), 2 ms apart. "No reload": ${seconds} s; "during": from the rename of the new text over the file until it is in force (the plugin looks at a file 1 s after its last change and puts it in force once unmodified for 2 s) and 1 s more. The event loop delay is measured inside Haraka (perf_hooks.monitorEventLoopDelay, in a bench plugin). The plugin reads a changed file with asynchronous reads into shared memory and never decodes a big file into a string (index.js); files of a million bytes or more are parsed in a worker thread (js/reloader.js); what stays on the event loop is the copy of the parsed instance's memory, in 1 MiB slices, and the swap.`,
  )
}

function cpuModel() {
  try {
    const m = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    return m ? m[1] : os.cpus()[0]?.model
  } catch {
    return os.cpus()[0]?.model ?? 'unknown'
  }
}

function writeResults() {
  const out = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpuModel()}, ${os.cpus().length} cores, Node ${process.version}.`,
    'Medians of several timed batches, relay-wasm against haraka-plugin-relay 1.0.2 in the same process run;',
    'ratio = haraka-plugin-relay / relay-wasm (above 1: relay-wasm is faster). The machine is shared: expect noise.',
    '',
  ]
  for (const t of tables) {
    out.push(`## ${t.title}`, '', `| ${t.head.join(' | ')} |`, `|${t.head.map(() => ' --- ').join('|')}|`)
    for (const r of t.rows) out.push(`| ${r.join(' | ')} |`)
    if (t.note) out.push('', t.note)
    out.push('')
  }
  fs.writeFileSync(RESULTS, out.join('\n'))
  console.log(`\nwrote ${path.relative(process.cwd(), RESULTS)}`)
}

const only = args.find((a) => a.startsWith('--only='))?.slice(7)
const all = { acl: aclTable, rcpt: rcptTable, suffix: suffixTable, load: loadTable, domains: domainsLoadTable, memory: memoryTable, callgrind: callgrindTable, server: serverTable, reloader: reloaderTable, reload: reloadTable }
;(async () => {
  for (const [name, fn] of Object.entries(all)) if (!only || only.split(',').includes(name)) await fn()
  if (!QUICK && !only) writeResults()
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
