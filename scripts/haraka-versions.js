#!/usr/bin/env node
'use strict'
// npm run test:haraka-versions
//
// The packed package (npm pack) against the latest patch of every Haraka
// line an admin may run, each with the oldest haraka-config that Haraka
// release allows, installed as a user installs it: `haraka -i DIR`, then
// `npm install <the .tgz>` in DIR, then config/plugins and the relay files.
// Each Haraka listens on a free port of 127.0.0.1 and is spoken to over TCP
// by a real SMTP client (test/lib/haraka.js); forced routes deliver to an
// SMTP sink run here (smtp-server, a devDependency). Nothing is mocked.
//
// Cases, per Haraka release:
//   a  ACL hit: 127.0.0.1 listed in relay_acl_allow relays to an outside
//      domain (RCPT 250)
//   b  ACL miss: 127.0.0.1 not listed, an outside recipient gets 5xx
//   c  accept, then a leak attempt: dest_domains=true and `accept` for one
//      domain; in one transaction the first RCPT (that domain) gets 250 and
//      a second one to another outside domain 5xx
//   d  live ACL edit: 127.0.0.1 appended to relay_acl_allow of the running
//      Haraka; new connections are asked every second until the outside
//      recipient gets 250 (Haraka reloads 5 s after the change), at most 30 s
//   e  a forced route (force_routing=true, nexthop smtp://127.0.0.1:PORT)
//      delivers the message to the sink
//   e' the same route written host:port (127.0.0.1:PORT), the form every
//      Haraka's outbound takes
//
// Haraka releases and their haraka-config are installed once into
// ${XDG_CACHE_HOME:-~/.cache}/relay-wasm-haraka-versions/<version> and
// reused (RELAY_WASM_HARAKA_VERSIONS_CACHE names another directory). The
// instances are made afresh in the system's temp directory on every run and
// removed afterwards; each Haraka's output is kept in <cache>/logs/.
//
//   node scripts/haraka-versions.js [VERSION ...] [--refresh] [--keep]
//     VERSION    only these releases (default: all five)
//     --refresh  install the releases again even when the cache has them
//     --keep     keep the instance directories (their paths are printed)
//
// Network: the npm registry (through npm) and loopback only. Every client
// connects to 127.0.0.1; a small plugin written into each instance
// (rdns_loopback) answers Haraka's reverse-DNS hook, so no DNS query leaves
// the machine.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Sink, Smtp, freePort, sleep } = require('../test/lib/haraka')

const REPO = path.resolve(__dirname, '..')
const VERSIONS = ['2.8.28', '3.0.4', '3.1.7', '3.2.1', '3.3.4']
const CASES = [
  ['a', 'ACL hit'],
  ['b', 'ACL miss'],
  ['c', 'accept, then leak'],
  ['d', 'live ACL edit'],
  ['e', 'route smtp://'],
  ["e'", 'route host:port'],
]
const RELOAD_WAIT_MS = 30000
const DELIVERY_WAIT_MS = 30000

// ---------------------------------------------------------------------------
// A tiny semver: enough for the ranges Haraka's package.json files give
// (`^1.0.20`, `~1.6.0`, `1.4.0`, `>=1.0.0 <2`, `a || b`). Prereleases never
// match. A range it cannot read is an error, never a guess.

function parseVersion(v) {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(String(v).trim())
  return m ? { v: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] || null } : null
}

function cmp(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  return 0
}

// One comparator as [lowest, below] bounds (either may be null), or a test.
function comparator(text) {
  if (text === '*' || text === 'x' || text === '') return () => true
  const m = /^(\^|~|>=|<=|>|<|=)?\s*v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text)
  if (!m) throw new Error(`cannot read the semver comparator ${JSON.stringify(text)}`)
  const op = m[1] || '='
  const parts = [m[2], m[3], m[4]]
  const given = parts.filter((p) => p !== undefined && p !== 'x' && p !== '*').length
  const base = parts.map((p) => (p === undefined || p === 'x' || p === '*' ? 0 : Number(p)))
  const [maj, min, pat] = base
  let lo = null
  let hi = null // exclusive
  switch (op) {
    case '^':
      lo = base
      if (maj > 0 || given === 1) hi = [maj + 1, 0, 0]
      else if (min > 0 || given === 2) hi = [0, min + 1, 0]
      else hi = [0, 0, pat + 1]
      break
    case '~':
      lo = base
      hi = given === 1 ? [maj + 1, 0, 0] : [maj, min + 1, 0]
      break
    case '=':
      lo = base
      hi = given === 1 ? [maj + 1, 0, 0] : given === 2 ? [maj, min + 1, 0] : [maj, min, pat + 1]
      break
    case '>=':
      lo = base
      break
    case '>':
      lo = given === 1 ? [maj + 1, 0, 0] : given === 2 ? [maj, min + 1, 0] : [maj, min, pat + 1]
      break
    case '<':
      hi = base
      break
    case '<=':
      hi = given === 1 ? [maj + 1, 0, 0] : given === 2 ? [maj, min + 1, 0] : [maj, min, pat + 1]
      break
  }
  return (v) => (!lo || cmp(v, lo) >= 0) && (!hi || cmp(v, hi) < 0)
}

function satisfies(version, range) {
  const p = parseVersion(version)
  if (!p || p.pre) return false
  return range.split('||').some((alt) => {
    const set = alt.trim().replace(/(\^|~|>=|<=|>|<|=)\s+/g, '$1')
    if (/\s-\s/.test(set)) throw new Error(`cannot read the semver range ${JSON.stringify(range)} (hyphen ranges)`)
    return set.split(/\s+/).every((c) => comparator(c)(p.v))
  })
}

function lowestSatisfying(versions, range) {
  const ok = versions.filter((v) => satisfies(v, range))
  ok.sort((x, y) => cmp(parseVersion(x).v, parseVersion(y).v))
  return ok[0] || null
}

// ---------------------------------------------------------------------------
// processes

// Runs a command; resolves to { code, out } (stdout and stderr together),
// rejects when it exits non-zero (with the tail of its output).
function run(cmd, args, { cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: env || process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let stdout = ''
    p.stdout.on('data', (d) => ((out += d), (stdout += d)))
    p.stderr.on('data', (d) => (out += d))
    p.once('error', reject)
    p.once('close', (code) => {
      if (code === 0) return resolve({ code, out, stdout })
      reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd || process.cwd()}) exited ${code}:\n${out.slice(-4000)}`))
    })
  })
}

const npm = (args, opts) => run('npm', ['--no-audit', '--no-fund', '--loglevel=warn', ...args], opts)

const harakas = new Set()
const tempDirs = new Set() // removed on exit, also when interrupted
function killAll() {
  for (const h of harakas) h.kill()
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true })
}
process.once('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll()
    process.kill(process.pid, sig)
  })
}

// One Haraka process of release `install` serving instance `dir`; its output
// goes to `logFile`.
class HarakaProcess {
  constructor({ bin, dir, port, logFile }) {
    Object.assign(this, { bin, dir, port, logFile })
    this.output = ''
    this.exited = null
  }

  async start(timeout = 30000) {
    const log = fs.createWriteStream(this.logFile, { flags: 'a' })
    log.write(`\n===== ${new Date().toISOString()} haraka -c ${this.dir} (listening on 127.0.0.1:${this.port})\n`)
    this.proc = spawn(process.execPath, [this.bin, '-c', this.dir], {
      cwd: this.dir,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: kill() reaches anything it starts
    })
    harakas.add(this)
    for (const s of [this.proc.stdout, this.proc.stderr]) {
      s.setEncoding('utf8')
      s.on('data', (d) => {
        log.write(d)
        this.output += d
      })
    }
    this.exitPromise = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        this.exited = { code, signal }
        harakas.delete(this)
        log.end()
        resolve()
      }),
    )
    const deadline = Date.now() + timeout
    for (;;) {
      if (this.exited) throw new Error(`Haraka exited (${JSON.stringify(this.exited)}):\n${this.tail()}`)
      if (await this.probe()) return this
      if (Date.now() > deadline) throw new Error(`Haraka did not listen on 127.0.0.1:${this.port} within ${timeout} ms:\n${this.tail()}`)
      await sleep(100)
    }
  }

  probe() {
    return new Promise((resolve) => {
      const s = require('node:net').connect({ host: '127.0.0.1', port: this.port })
      s.once('connect', () => (s.destroy(), resolve(true)))
      s.once('error', () => (s.destroy(), resolve(false)))
    })
  }

  tail(n = 3000) {
    return this.output.slice(-n)
  }

  kill() {
    if (!this.proc || this.exited) return
    try {
      process.kill(-this.proc.pid, 'SIGKILL')
    } catch {
      try {
        this.proc.kill('SIGKILL')
      } catch {
        // gone already
      }
    }
  }

  async stop() {
    this.kill()
    if (this.exitPromise) await Promise.race([this.exitPromise, sleep(5000)])
  }
}

// ---------------------------------------------------------------------------
// installing

const CACHE =
  process.env.RELAY_WASM_HARAKA_VERSIONS_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'relay-wasm-haraka-versions')

let configVersions = null
async function harakaConfigVersions() {
  if (!configVersions) configVersions = JSON.parse((await npm(['view', 'haraka-config', 'versions', '--json'])).stdout)
  return configVersions
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return null
  }
}

// What is installed in `dir`: Haraka's version and the version of the
// haraka-config that Haraka itself loads (resolved from Haraka's directory).
function installedVersions(dir) {
  const harakaPkg = path.join(dir, 'node_modules', 'Haraka', 'package.json')
  const haraka = readJson(harakaPkg)?.version
  if (!haraka) return {}
  let config = null
  try {
    config = readJson(require.resolve('haraka-config/package.json', { paths: [path.dirname(harakaPkg)] }))?.version
  } catch {
    // none
  }
  return { haraka, config }
}

// Installs Haraka `version` with the oldest haraka-config its package.json
// allows into CACHE/<version> (or reuses it). Resolves to
// { dir, bin, haraka, config, range, cached }.
async function installHaraka(version, { refresh }) {
  const dir = path.join(CACHE, version)
  const marker = path.join(dir, 'relay-wasm-installed.json')
  const done = readJson(marker)
  const bin = path.join(dir, 'node_modules', 'Haraka', 'bin', 'haraka')
  if (!refresh && done) {
    const now = installedVersions(dir)
    if (now.haraka === version && now.config === done.config && fs.existsSync(bin)) return { dir, bin, ...done, cached: true }
  }
  const deps = JSON.parse((await npm(['view', `Haraka@${version}`, 'dependencies', '--json'])).stdout)
  const range = deps['haraka-config']
  if (!range) throw new Error(`Haraka@${version} has no haraka-config dependency`)
  const config = lowestSatisfying(await harakaConfigVersions(), range)
  if (!config) throw new Error(`no published haraka-config satisfies ${range} (Haraka@${version})`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: `relay-wasm-haraka-${version}`, private: true, description: 'written by scripts/haraka-versions.js of haraka-plugin-relay-wasm', dependencies: { Haraka: version, 'haraka-config': config } }, null, 2)}\n`,
  )
  await npm(['install'], { cwd: dir })
  const now = installedVersions(dir)
  if (now.haraka !== version) throw new Error(`${dir}: Haraka ${now.haraka} installed, not ${version}`)
  if (now.config !== config) throw new Error(`${dir}: Haraka loads haraka-config ${now.config}, not ${config}`)
  const info = { haraka: version, config, range }
  fs.writeFileSync(marker, `${JSON.stringify(info, null, 2)}\n`)
  return { dir, bin, ...info, cached: false }
}

// npm pack of this repo into a temp dir: the path of the .tgz.
async function packRepo(tmp) {
  await npm(['pack', '--pack-destination', tmp], { cwd: REPO })
  const tgz = fs.readdirSync(tmp).filter((f) => f.endsWith('.tgz'))
  if (tgz.length !== 1) throw new Error(`npm pack left ${tgz.length} .tgz files in ${tmp}`)
  return path.join(tmp, tgz[0])
}

// A fresh instance: `haraka -i DIR`, then `npm install <tgz>` in it.
async function makeInstance(install, tgz, parent) {
  const dir = path.join(parent, `haraka-${install.haraka}`)
  await run(process.execPath, [install.bin, '-i', dir])
  if (!fs.existsSync(path.join(dir, 'config', 'smtp.ini'))) throw new Error(`haraka -i ${dir} wrote no config/smtp.ini`)
  await npm(['install', tgz], { cwd: dir })
  const pkg = path.join(dir, 'node_modules', 'haraka-plugin-relay-wasm')
  if (fs.lstatSync(pkg).isSymbolicLink() || !fs.existsSync(path.join(pkg, 'wasm', 'relay.wasm'))) {
    throw new Error(`${pkg} is not an installed copy of the package`)
  }
  // no reverse-DNS query may leave the machine: this plugin answers the hook
  fs.writeFileSync(
    path.join(dir, 'plugins', 'rdns_loopback.js'),
    `'use strict'
// written by scripts/haraka-versions.js: the clients here are all on
// loopback; answer the reverse-DNS hook without asking DNS
exports.hook_lookup_rdns = function (next, connection) {
    next(OK, 'localhost')
}
`,
  )
  return dir
}

function writeConfig(dir, port, files) {
  const all = {
    // as an admin edits it: one listener, one process
    'smtp.ini': `; written by scripts/haraka-versions.js\n[main]\nlisten=127.0.0.1:${port}\nnodes=0\n`,
    // relay-wasm decides every recipient here; all mail it accepts is
    // relayed, which Haraka's outbound delivers itself: no queue plugin
    plugins: 'rdns_loopback\nrelay-wasm\n',
    ...files,
  }
  for (const [name, text] of Object.entries(all)) fs.writeFileSync(path.join(dir, 'config', name), text)
}

// ---------------------------------------------------------------------------
// SMTP

// One session: EHLO, MAIL, then each RCPT; DATA when `message` is given and
// a recipient got 250. Resolves to { rcpt: [codes], lines: [replies], data }.
async function session(port, rcpts, message) {
  const c = await Smtp.open({ port, host: '127.0.0.1', timeout: 15000 })
  try {
    if (c.greeting.code !== 220) throw new Error(`greeting ${c.greeting.code} ${c.greeting.text}`)
    const e = await c.ehlo('client.relay-wasm.test')
    if (e.code !== 250) throw new Error(`EHLO ${e.code} ${e.text}`)
    const m = await c.send('MAIL FROM:<sender@client.relay-wasm.test>')
    if (m.code !== 250) throw new Error(`MAIL FROM ${m.code} ${m.text}`)
    const rcpt = []
    const lines = []
    for (const r of rcpts) {
      const reply = await c.send(`RCPT TO:<${r}>`)
      rcpt.push(reply.code)
      lines.push(`RCPT TO:<${r}> -> ${reply.code} ${reply.text}`)
    }
    let data = null
    if (message && rcpt.includes(250)) {
      const d = await c.data(message)
      data = d.code
      lines.push(`DATA -> ${d.code} ${d.text}`)
    }
    return { rcpt, lines, data }
  } finally {
    await c.quit()
  }
}

const is5xx = (code) => code >= 500 && code < 600

function messageFor(tag, rcpt) {
  return [
    'From: <sender@client.relay-wasm.test>',
    `To: <${rcpt}>`,
    `Subject: relay-wasm haraka-versions ${tag}`,
    `Message-ID: <${tag}.${process.pid}.${Date.now()}@client.relay-wasm.test>`,
    'Date: Tue, 01 Jan 2030 00:00:00 +0000',
    '',
    `forced route ${tag}`,
    '',
  ].join('\r\n')
}

// The outbound lines of Haraka's log about the message for `rcpt`: those of
// the queue ids (uuid.n.m) that handled its domain.
function outboundLines(h, rcpt) {
  const domain = rcpt.split('@')[1]
  const lines = h.output.split('\n')
  const ids = new Set()
  for (const l of lines) {
    const m = /\[([0-9A-F]{8}-[0-9A-F-]{27}\.\d+\.\d+)\] \[outbound\]/.exec(l)
    if (m && l.includes(domain)) ids.add(m[1])
  }
  const mine = lines.filter((l) => [...ids].some((id) => l.includes(`[${id}]`)))
  return (mine.length ? mine : lines.filter((l) => l.includes(domain))).slice(-6).map((l) => `      ${l}`).join('\n')
}

// ---------------------------------------------------------------------------
// the cases of one release

async function runCase(results, id, fn) {
  const t0 = Date.now()
  try {
    const detail = await fn()
    results[id] = { ok: true, detail, ms: Date.now() - t0 }
  } catch (err) {
    results[id] = { ok: false, detail: err.message, ms: Date.now() - t0 }
  }
}

function expect(cond, what, lines) {
  if (!cond) throw new Error(`${what}\n      ${lines.join('\n      ')}`)
}

async function testRelease(install, tgz, tmp, logFile) {
  const results = {}
  const dir = await makeInstance(install, tgz, tmp)
  const bin = install.bin
  const OUTSIDE = 'someone@outside.relay-wasm.test'

  // run 1: 127.0.0.1 listed (case a)
  {
    const port = await freePort()
    writeConfig(dir, port, {
      'relay.ini': '[relay]\nacl=true\n',
      relay_acl_allow: '127.0.0.1\n',
      'relay_dest_domains.ini': '[domains]\n',
    })
    const h = new HarakaProcess({ bin, dir, port, logFile })
    try {
      await h.start()
      await runCase(results, 'a', async () => {
        const r = await session(port, [OUTSIDE])
        expect(r.rcpt[0] === 250, 'the listed client was not let relay', r.lines)
        return r.lines.join('; ')
      })
    } catch (err) {
      results.a = results.a || { ok: false, detail: err.message }
    } finally {
      await h.stop()
    }
  }

  // run 2: 127.0.0.1 not listed; dest_domains and force_routing on
  // (cases b, c, e, e', then d: the edit that lists it)
  const sink = await new Sink({ name: 'nexthop' }).start()
  const port = await freePort()
  writeConfig(dir, port, {
    'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\n',
    relay_acl_allow: '# 127.0.0.1 is not listed (yet)\n192.0.2.1\n',
    'relay_dest_domains.ini': [
      '[domains]',
      'accepted.relay-wasm.test = { "action": "accept" }',
      `url-route.relay-wasm.test = { "action": "accept", "nexthop": "smtp://127.0.0.1:${sink.port}" }`,
      `hostport-route.relay-wasm.test = { "action": "accept", "nexthop": "127.0.0.1:${sink.port}" }`,
      '',
    ].join('\n'),
  })
  const h = new HarakaProcess({ bin, dir, port, logFile })
  try {
    await h.start()
    await runCase(results, 'b', async () => {
      const r = await session(port, [OUTSIDE])
      expect(is5xx(r.rcpt[0]), 'an unlisted client was not refused with 5xx', r.lines)
      return r.lines.join('; ')
    })
    await runCase(results, 'c', async () => {
      const r = await session(port, ['someone@accepted.relay-wasm.test', 'leak@outside.relay-wasm.test'])
      expect(r.rcpt[0] === 250, 'the accepted domain was not accepted', r.lines)
      expect(is5xx(r.rcpt[1]), 'the second, outside recipient was not refused with 5xx', r.lines)
      return r.lines.join('; ')
    })
    // both routes at once; each message waited for at the sink
    const route = async (tag, rcpt) => {
      const r = await session(port, [rcpt], messageFor(tag, rcpt))
      expect(r.rcpt[0] === 250 && r.data === 250, 'the message was not accepted', r.lines)
      try {
        await sink.waitFor((m) => m.rcptTo.includes(rcpt), DELIVERY_WAIT_MS)
      } catch {
        throw new Error(`not delivered to the sink within ${DELIVERY_WAIT_MS / 1000} s; Haraka's outbound said:\n${outboundLines(h, rcpt)}`)
      }
      return `${r.lines.join('; ')}; delivered to 127.0.0.1:${sink.port}`
    }
    await Promise.all([
      runCase(results, 'e', () => route('url', 'someone@url-route.relay-wasm.test')),
      runCase(results, "e'", () => route('hostport', 'someone@hostport-route.relay-wasm.test')),
    ])
    await runCase(results, 'd', async () => {
      const before = await session(port, [OUTSIDE])
      expect(is5xx(before.rcpt[0]), 'before the edit the outside recipient was not refused', before.lines)
      // as an admin would: echo 127.0.0.1 >> config/relay_acl_allow
      const mark = h.output.length
      fs.appendFileSync(path.join(dir, 'config', 'relay_acl_allow'), '127.0.0.1\n')
      const t0 = Date.now()
      let last = before
      while (Date.now() - t0 < RELOAD_WAIT_MS) {
        await sleep(1000)
        last = await session(port, [OUTSIDE])
        if (last.rcpt[0] !== 250) continue
        const reload = /relay_acl_allow in force[^\n]*/.exec(h.output.slice(mark))
        expect(reload, 'relaying, but Haraka logged no reload of relay_acl_allow', last.lines)
        return `250 ${((Date.now() - t0) / 1000).toFixed(1)} s after the edit (log: "${reload[0]}")`
      }
      expect(false, `still not relaying ${RELOAD_WAIT_MS / 1000} s after the edit`, last.lines)
    })
  } catch (err) {
    for (const [id] of CASES) if (!results[id]) results[id] = { ok: false, detail: err.message }
  } finally {
    await h.stop()
    await sink.stop()
  }
  return { results, dir }
}

// ---------------------------------------------------------------------------

function table(rows) {
  const head = ['Haraka', 'haraka-config', ...CASES.map(([id]) => id), 'install s', 'cases s']
  const body = rows.map((r) => [
    r.version,
    r.config || '?',
    ...CASES.map(([id]) => (r.results[id] ? (r.results[id].ok ? 'pass' : 'FAIL') : '-')),
    r.installS,
    r.casesS,
  ])
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)))
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`
  return [line(head), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...body.map(line)].join('\n')
}

async function main() {
  const args = process.argv.slice(2)
  const refresh = args.includes('--refresh')
  const keep = args.includes('--keep')
  const unknown = args.filter((a) => a.startsWith('-') && a !== '--refresh' && a !== '--keep')
  if (unknown.length) throw new Error(`unknown option ${unknown.join(' ')}`)
  const only = args.filter((a) => !a.startsWith('-'))
  const versions = only.length ? only : VERSIONS

  const t0 = Date.now()
  fs.mkdirSync(path.join(CACHE, 'logs'), { recursive: true })
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-haraka-versions-'))
  if (!keep) tempDirs.add(tmp)
  console.log(`node ${process.version}; cache ${CACHE}; instances in ${tmp}`)
  const rows = []
  try {
    const tgz = await packRepo(tmp)
    console.log(`packed ${path.basename(tgz)} (${fs.statSync(tgz).size} bytes) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    for (const version of versions) {
      const row = { version, config: null, results: {}, installS: '-', casesS: '-' }
      rows.push(row)
      const t1 = Date.now()
      let install
      try {
        install = await installHaraka(version, { refresh })
        row.config = install.config
      } catch (err) {
        row.results = Object.fromEntries(CASES.map(([id]) => [id, { ok: false, detail: `install: ${err.message}` }]))
        console.log(`\nHaraka ${version}: install failed: ${err.message}`)
        continue
      }
      row.installS = install.cached ? 'cached' : ((Date.now() - t1) / 1000).toFixed(1)
      console.log(
        `\nHaraka ${version} with haraka-config ${install.config} (Haraka asks ${install.range})` +
          `${install.cached ? ', from the cache' : `, installed in ${row.installS} s`}`,
      )
      const logFile = path.join(CACHE, 'logs', `haraka-${version}.log`)
      fs.writeFileSync(logFile, '')
      const t2 = Date.now()
      try {
        const { results, dir } = await testRelease(install, tgz, tmp, logFile)
        row.results = results
        if (keep) console.log(`  instance kept: ${dir}`)
      } catch (err) {
        row.results = Object.fromEntries(CASES.map(([id]) => [id, { ok: false, detail: err.message }]))
      }
      row.casesS = ((Date.now() - t2) / 1000).toFixed(1)
      for (const [id, name] of CASES) {
        const r = row.results[id]
        if (!r) continue
        console.log(`  ${id.padEnd(2)} ${r.ok ? 'pass' : 'FAIL'}  ${name}: ${r.detail}`)
      }
      if (CASES.some(([id]) => !row.results[id]?.ok)) console.log(`  Haraka's output: ${logFile}`)
    }
  } finally {
    if (!keep) fs.rmSync(tmp, { recursive: true, force: true })
  }
  console.log(`\n${CASES.map(([id, name]) => `${id}: ${name}`).join('; ')}; "install s": Haraka and haraka-config into the cache ("cached": reused); "cases s": haraka -i, npm install of the .tgz and the cases\n`)
  console.log(table(rows))
  const total = (Date.now() - t0) / 1000
  const failed = rows.filter((r) => CASES.some(([id]) => !r.results[id]?.ok))
  console.log(`\n${rows.length - failed.length} of ${rows.length} Haraka releases pass every case; total ${total.toFixed(1)} s`)
  return failed.length ? 1 : 0
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err.stack || err)
      process.exit(1)
    },
  )
}

module.exports = { satisfies, lowestSatisfying }
