/*
 * bench/run.js - relay-wasm against haraka-plugin-relay 1.0.2, same inputs,
 * same process run per table.  `npm run bench` (all sizes, writes
 * bench/RESULTS.md); `node bench/run.js --quick` (tiny sizes, no file; npm
 * test runs it so the script cannot rot).
 *
 * Each figure is the median of several timed batches; a batch runs the
 * operation enough times to last a few milliseconds.  Ratio = theirs / ours
 * (above 1: relay-wasm is faster).
 */
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ipaddr = require('ipaddr.js')
const iniReader = require('haraka-config/lib/readers/ini.js')
const constants = require('haraka-constants')

const { createEngine, WASM_PATH } = require('../js/engine')

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

function domainLines(n) {
  const lines = ['[domains]']
  const actions = ['accept', 'continue', 'deny']
  for (let i = 0; i < n; i++) lines.push(`d${i}.example.com = { "action": "${actions[i % 3]}" }`)
  return lines.join('\n') + '\n'
}

/* ---- the two plugins, through their hook functions -------------------- */

function ourPlugin(files) {
  const plugin = Object.create(require('../index.js'))
  plugin.name = 'relay-wasm'
  for (const l of ['logdebug', 'loginfo', 'logwarn', 'logerror', 'logcrit']) plugin[l] = () => {}
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

function rcptTable() {
  const rows = []
  for (const n of SIZES) {
    const files = { 'relay.ini': '[relay]\nacl=false\ndest_domains=true\n', 'relay_dest_domains.ini': domainLines(n) }
    const ours = ourPlugin(files)
    const theirs = theirPlugin(files)
    const hosts = Array.from({ length: 64 }, (_, i) => (i & 1 ? `d${(i * 7919) % n}.example.com` : `x${i}.example.org`))
    const conns = hosts.map(() => connection('192.0.2.1'))
    const params = hosts.map((host) => [{ host }])
    const run = (p) => (i) => {
      const c = conns[i % conns.length]
      c.relaying = false
      c.transaction.notes = {}
      p.dest_domains(noop, c, params[i % params.length])
    }
    const o = timeOp(run(ours))
    const t = timeOp(run(theirs))
    rows.push([n.toLocaleString('en'), fmtNs(o), fmtNs(t), ratio(t, o)])
  }
  table(
    'rcpt decision (dest_domains hook), half listed, half not',
    ['domains', 'relay-wasm', 'haraka-plugin-relay', 'ratio'],
    rows,
    'relay-wasm keeps each domain\'s answer until relay_dest_domains.ini is loaded again, and the 64 domains asked here repeat, so this is the warm figure; the first question for a domain is one call into the module (see the instruction counts below).',
  )
}

function loadTable() {
  const rows = []
  for (const n of SIZES) {
    const acl = aclEntries(n, 4).join('\n') + '\n'
    const dom = domainLines(n)
    const engine = createEngine()
    const theirs = theirPlugin({ relay_acl_allow: '', 'relay_dest_domains.ini': '' })
    const budget = { budgetMs: QUICK ? 20 : 1000, batches: n >= 100000 ? 3 : 5 }
    const oa = timeOp(() => engine.load('relay_acl_allow', acl), budget)
    theirs.config.get = (name, type) => (type === 'list' ? acl.split('\n').filter((l) => l.trim()).map((l) => l.trim()) : null)
    const ta = timeOp(() => theirs.load_acls(), budget)
    const od = timeOp(() => engine.load('relay_dest_domains.ini', dom), budget)
    const td = timeOp(() => iniReader.parseIni('relay_dest_domains.ini', {}, dom), budget)
    rows.push([n.toLocaleString('en'), fmtNs(oa), fmtNs(ta), fmtNs(od), fmtNs(td)])
  }
  const mod = new WebAssembly.Module(fs.readFileSync(WASM_PATH))
  const inst = timeOp(() => new WebAssembly.Instance(mod, {}))
  const create = timeOp(() => createEngine())
  table(
    'Load time of a whole file',
    ['entries', 'relay_acl_allow: relay-wasm', 'haraka-plugin-relay (list + load_acls)', 'relay_dest_domains.ini: relay-wasm', 'haraka-plugin-relay (haraka-config INI)'],
    rows,
    `Instantiating relay.wasm: ${fmtNs(inst)} (new WebAssembly.Instance); a whole engine (instance + relay_new): ${fmtNs(create)}. haraka-plugin-relay parses JSON at RCPT time, so its load column is the INI parse only.`,
  )
}

function memoryTable() {
  const n = QUICK ? 1000 : 100000
  const base = createEngine().exports.memory.buffer.byteLength
  const rows = []
  for (const family of [4, 6]) {
    const e = createEngine()
    e.load('relay_acl_allow', aclEntries(n, family).join('\n'))
    const mem = e.exports.memory.buffer.byteLength
    rows.push([`relay_acl_allow, IPv${family}`, n.toLocaleString('en'), `${((mem - base) / n).toFixed(1)} B`, `${((mem - base) / (n / 1000) / 1024).toFixed(1)} KiB`])
  }
  const e = createEngine()
  e.load('relay_dest_domains.ini', domainLines(n))
  const mem = e.exports.memory.buffer.byteLength
  rows.push(['relay_dest_domains.ini', n.toLocaleString('en'), `${((mem - base) / n).toFixed(1)} B`, `${((mem - base) / (n / 1000) / 1024).toFixed(1)} KiB`])
  table(
    'Linear memory of the module after a load (high-water mark, includes the text passed in)',
    ['file', 'entries', 'per entry', 'per 1,000 entries'],
    rows,
    `relay.wasm: ${fs.statSync(WASM_PATH).size.toLocaleString('en')} bytes; an empty instance: ${(base / 1024).toFixed(0)} KiB.`,
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
  const { serverBench } = require('./server')
  const sizes = QUICK ? [1, 100] : [1, 100000]
  const rows = await serverBench({ sizes, seconds: QUICK ? 1 : 10 })
  const out = []
  for (const n of sizes) {
    const ours = rows.find((r) => r.entries === n && r.plugin === 'relay-wasm')
    const theirs = rows.find((r) => r.entries === n && r.plugin === 'relay')
    out.push([
      n.toLocaleString('en'),
      ours.conns.toFixed(1),
      theirs.conns.toFixed(1),
      `${(ours.conns / theirs.conns).toFixed(2)}×`,
      ours.rcpts.toFixed(0),
      theirs.rcpts.toFixed(0),
      `${(ours.rcpts / theirs.rcpts).toFixed(2)}×`,
    ])
  }
  table(
    'Whole server: a real Haraka on loopback (4 concurrent clients)',
    ['ACL entries', 'conn/s relay-wasm', 'conn/s haraka-plugin-relay', 'ratio', 'rcpt/s relay-wasm', 'rcpt/s haraka-plugin-relay', 'ratio'],
    out,
    'Here ratio = relay-wasm / haraka-plugin-relay (a rate: above 1, relay-wasm is faster). Connections: greeting, EHLO, QUIT from a client listed last in relay_acl_allow. Recipients: 50 RCPT TO a domain listed as accept, from a client outside the ACL.',
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
const all = { acl: aclTable, rcpt: rcptTable, load: loadTable, memory: memoryTable, callgrind: callgrindTable, server: serverTable }
;(async () => {
  for (const [name, fn] of Object.entries(all)) if (!only || only.split(',').includes(name)) await fn()
  if (!QUICK && !only) writeResults()
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
