/*
 * bench/server.js - whole-server figures: a real Haraka on loopback.
 *
 * For: bench/run.js (tables "Whole server" and "Reload under load").
 *
 * compareRates: connections per second (open, greeting, EHLO, QUIT, from
 * addresses listed last in relay_acl_allow, several at a time) and
 * recipients per second (sessions of one MAIL FROM and many RCPT TO to a
 * domain listed as accept, from clients outside the ACL: each recipient
 * decided by the relay plugin), for Harakas with relay-wasm, with
 * haraka-plugin-relay 1.0.2, with a plugin that only registers the same
 * hooks, or with no relay plugin at all (the ceiling: its recipients are
 * refused by Haraka itself, 550).  All of them run at once and are measured
 * in turns, several rounds, the order turned each round; each measurement
 * comes from addresses of its own (a client that binds its address before
 * it connects cannot reuse a port in TIME_WAIT, so thousands of closed
 * connections from one address slow down whoever comes next).
 *
 * reloadStall: RCPT latency seen by clients, and the event loop delay
 * inside Haraka (perf_hooks.monitorEventLoopDelay, read with an SMTP
 * command of a small bench plugin), first with no reload, then while one
 * of the three files, with a million entries, is rewritten and reloaded.
 * Loopback only; every loop ends by time.
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const { Haraka, Smtp, freePort, sleep } = require('../test/lib/haraka')

/* Clients: the addresses of 127.10.0.0/16 are listed in relay_acl_allow
 * (its last entry); the others are not: their recipients go through
 * dest_domains.  Each rate measurement has addresses of its own (8 listed,
 * 8 not). */
const LISTED_BLOCK = '127.10.0.0/16'
const CLIENT = '127.10.255.1'
const OUTSIDER = '127.0.0.3'
const POOLS = 64
const listedPool = (k) => Array.from({ length: 8 }, (_, i) => `127.10.${k}.${i + 1}`)
const outsiderPool = (k) => Array.from({ length: 8 }, (_, i) => `127.20.${k}.${i + 1}`)
const PROBE_CLIENT = '127.0.0.4' // listed only in the reloaded relay_acl_allow
const LISTED = 'listed.example'

/* A Haraka plugin written into the bench Haraka: `XELD` answers the event
 * loop delay since the last `XELD RESET` (max, p50, p99 in ms), which
 * answers the same and starts over. */
const ELD_PLUGIN = `'use strict'
const { monitorEventLoopDelay } = require('node:perf_hooks')
const h = monitorEventLoopDelay({ resolution: 1 })
h.enable()
exports.hook_unrecognized_command = function (next, connection, params) {
    if (String(params[0]).toUpperCase() !== 'XELD') return next()
    const ms = (v) => (v / 1e6).toFixed(2)
    const text = 'max=' + ms(h.max) + ' p50=' + ms(h.percentile(50)) + ' p99=' + ms(h.percentile(99))
    if (/reset/i.test(String(params[1] || ''))) h.reset()
    connection.respond(250, text)
    next(OK)
}
`

/* The files of the bench, of n entries; `reloaded`: the text written for
 * the reload, which differs in one entry that a probe can see (below). */
/* A Haraka plugin that registers the hooks relay-wasm registers and does
 * nothing in them but vouch for every recipient: what any plugin of that
 * shape costs in Haraka's hook machinery. */
const HOOKS_PLUGIN = `'use strict'
exports.register = function () {
    for (const h of ['connect_init', 'connect', 'rcpt_ok', 'deny', 'data', 'get_mx']) this.register_hook(h, 'pass')
    this.register_hook('rcpt', 'vouch')
}
exports.pass = function (next) { next() }
exports.vouch = function (next) { next(OK) }
`

/* The least a plugin can do to accept a recipient: one rcpt hook that
 * vouches (250), nothing else. */
const RCPT_PLUGIN = `'use strict'
exports.hook_rcpt = function (next) { next(OK) }
`

function aclFile(n, reloaded = false) {
  // n entries, the clients' block last (so 1.0.2 scans them all)
  const lines = n > 1 ? [reloaded ? `${PROBE_CLIENT}/32` : '10.255.255.255/32'] : []
  for (let i = 0; lines.length < n - 1; i++) lines.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`)
  lines.push(LISTED_BLOCK)
  return lines.join('\n') + '\n'
}

/* n entries as run.js writes them, `listed.example` first. */
function domainsFile(n, reloaded = false) {
  const lines = ['[domains]', `${LISTED} = { "action": "accept" }`, `probe.example = { "action": "${reloaded ? 'accept' : 'deny'}" }`]
  const actions = ['accept', 'continue', 'deny']
  for (let i = 0; lines.length < n + 1; i++) {
    lines.push(
      i % 5 === 0
        ? `d${i}.example${i % 97}.com = { "action": "${actions[i % 3]}", "nexthop": "mx${i % 13}.example.net:25" }`
        : `d${i}.example${i % 97}.com = { "action": "${actions[i % 3]}" }`,
    )
  }
  return lines.join('\n') + '\n'
}

/* relay.ini with n keys: the switches, then keys of a section the plugin
 * does not read. */
function iniFile(n, reloaded = false) {
  const lines = ['[relay]', `acl = ${!reloaded}`, 'dest_domains = true', 'force_routing = false', '[notes]']
  for (let i = 0; lines.length < n + 1; i++) lines.push(`note${i} = ${i}`)
  return lines.join('\n') + '\n'
}

const MAKERS = { 'relay_dest_domains.ini': domainsFile, relay_acl_allow: aclFile, 'relay.ini': iniFile }

/* Is the reloaded text in force?  Asked over SMTP: a recipient at
 * probe.example (deny, then accept); the client PROBE_CLIENT (listed only
 * in the new ACL) relaying; the client CLIENT no longer relaying (acl =
 * false).  In that order: the last one turns the ACL off. */
async function probe(port, file) {
  const from = { 'relay_dest_domains.ini': OUTSIDER, relay_acl_allow: PROBE_CLIENT, 'relay.ini': CLIENT }[file]
  const rcpt = file === 'relay_dest_domains.ini' ? 'x@probe.example' : 'x@unlisted.example'
  const c = await Smtp.open({ port, localAddress: from, timeout: 60000 })
  await c.ehlo()
  await c.send('MAIL FROM:<probe@client.example>')
  const r = await c.send(`RCPT TO:<${rcpt}>`)
  await c.quit()
  return file === 'relay.ini' ? r.code !== 250 : r.code === 250
}

async function start({ name, plugins, files }) {
  const port = await freePort()
  const h = new Haraka({
    name,
    listen: [`127.0.0.1:${port}`],
    plugins: [...plugins, 'queue/discard', 'bench_eld'],
    logLevel: 'warn',
    outputLimit: 1 << 20,
    files,
    setup: (haraka) => {
      fs.writeFileSync(path.join(haraka.dir, 'plugins', 'bench_eld.js'), ELD_PLUGIN)
      fs.writeFileSync(path.join(haraka.dir, 'plugins', 'bench_hooks.js'), HOOKS_PLUGIN)
      fs.writeFileSync(path.join(haraka.dir, 'plugins', 'bench_rcpt.js'), RCPT_PLUGIN)
    },
  })
  await h.start({ timeout: 120000 })
  return { h, port }
}

/* Runs `session` from `concurrency` clients until `seconds` pass; returns
 * completed sessions and the units each reported. */
async function drive(seconds, concurrency, session) {
  const end = Date.now() + seconds * 1000
  let sessions = 0
  let units = 0
  const worker = async () => {
    while (Date.now() < end) {
      units += await session()
      sessions++
    }
  }
  const t0 = Date.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { sessions, units, ms: Date.now() - t0 }
}

async function connectionRate(port, seconds, from) {
  let n = 0
  const { sessions, ms } = await drive(seconds, 4, async () => {
    const c = await Smtp.open({ port, localAddress: from[n++ % from.length], timeout: 30000 })
    const r = await c.ehlo()
    if (r.code !== 250) throw new Error(`EHLO ${r.code}`)
    await c.quit()
    return 1
  })
  return (sessions / ms) * 1000
}

/* Recipients per second; `want` is the code each must get. */
async function recipientRate(port, seconds, want, from, perSession = 50) {
  let n = 0
  const { units, ms } = await drive(seconds, 4, async () => {
    const c = await Smtp.open({ port, localAddress: from[n++ % from.length], timeout: 30000 })
    await c.ehlo()
    await c.send('MAIL FROM:<bench@client.example>')
    let ok = 0
    for (let i = 0; i < perSession; i++) {
      const r = await c.send(`RCPT TO:<user${i}@${LISTED}>`)
      if (r.code === want) ok++
    }
    await c.quit()
    if (ok !== perSession) throw new Error(`only ${ok} of ${perSession} recipients got ${want}`)
    return ok
  })
  return (units / ms) * 1000
}

/* configs: [{ plugin: 'relay-wasm' | 'relay' | 'bench_hooks' | 'bench_rcpt' | null,
 * aclEntries, domainEntries }].  Returns for each { conns, rcpts }, the
 * medians of `rounds` measurements of `seconds` each. */
async function compareRates({ configs, seconds, rounds }) {
  if (configs.length * rounds > POOLS) throw new Error('too many measurements for the address pools')
  const running = []
  try {
    for (const [k, c] of configs.entries()) {
      const files = {
        'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\n',
        relay_acl_allow: aclFile(c.aclEntries),
        'relay_dest_domains.ini': domainsFile(c.domainEntries),
      }
      running.push(await start({ name: `bench-${k}-${c.plugin || 'none'}`, plugins: c.plugin ? [c.plugin] : [], files }))
    }
    const results = configs.map(() => ({ conns: [], rcpts: [] }))
    let pool = 0
    for (let round = 0; round < rounds; round++) {
      for (let j = 0; j < configs.length; j++) {
        const k = (j + round) % configs.length // a different one first each round
        const { port } = running[k]
        const want = configs[k].plugin ? 250 : 550
        results[k].conns.push(await connectionRate(port, seconds, listedPool(pool)))
        results[k].rcpts.push(await recipientRate(port, seconds, want, outsiderPool(pool)))
        pool++
      }
    }
    const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]
    return results.map((r) => ({ conns: median(r.conns), rcpts: median(r.rcpts), all: r }))
  } finally {
    for (const { h } of running) await h.stop()
  }
}

/* ---- reload under load ------------------------------------------------ */

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : NaN)

function summary(latencies) {
  const s = latencies.slice().sort((a, b) => a - b)
  return { count: s.length, p50: pct(s, 50), p99: pct(s, 99), max: s.length ? s[s.length - 1] : NaN }
}

async function eld(port, reset) {
  const c = await Smtp.open({ port, localAddress: OUTSIDER, timeout: 30000 })
  const r = await c.send(`XELD${reset ? ' RESET' : ''}`)
  await c.quit()
  const m = /max=([\d.]+) p50=([\d.]+) p99=([\d.]+)/.exec(r.text)
  if (!m) throw new Error(`XELD: ${r.code} ${r.text}`)
  return { max: Number(m[1]), p50: Number(m[2]), p99: Number(m[3]) }
}

/* Clients sending RCPT TO over and over (a new session every 50); each
 * latency is kept with the time it was measured. */
function rcptLoad(port, concurrency) {
  const samples = []
  let stop = false
  const worker = async () => {
    while (!stop) {
      const c = await Smtp.open({ port, localAddress: OUTSIDER, timeout: 60000 })
      await c.ehlo()
      await c.send('MAIL FROM:<bench@client.example>')
      for (let i = 0; i < 50 && !stop; i++) {
        const t0 = performance.now()
        const r = await c.send(`RCPT TO:<user${i}@${LISTED}>`)
        const t1 = performance.now()
        if (r.code !== 250) throw new Error(`RCPT ${r.code} ${r.text}`)
        samples.push({ at: t1, ms: t1 - t0 })
        await sleep(2) // a client that pauses: latency, not throughput
      }
      await c.quit()
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, worker))
  return {
    samples,
    async end() {
      stop = true
      await done
    },
  }
}

/* For each file: RCPT latency and event loop delay over `seconds` with no
 * reload, then from the rewrite of the file (a million entries, one line
 * changed) until the plugin has it in force, plus a second. */
async function reloadStall({ entries, seconds, files: which = Object.keys(MAKERS) }) {
  const files = {}
  for (const [name, make] of Object.entries(MAKERS)) files[name] = make(entries)
  const { h, port } = await start({ name: 'bench-reload', plugins: ['relay-wasm'], files })
  const out = []
  try {
    await sleep(1000)
    for (const file of which) {
      const text = MAKERS[file](entries, true) // made before anything is measured
      const load = rcptLoad(port, 4)
      await sleep(1000)
      await eld(port, true)
      const quietFrom = performance.now()
      await sleep(seconds * 1000)
      const quietEld = await eld(port, true)
      const quietTo = performance.now()
      // the rewrite: an atomic rename of a new text of the same size
      if (await probe(port, file)) throw new Error(`${file}: the probe sees the new text before it is written`)
      const tmp = path.join(h.cfg, `.tmp-${file}`)
      await fs.promises.writeFile(tmp, text) // off this process's event loop too
      const wroteAt = performance.now()
      fs.renameSync(tmp, h.file(file))
      let doneAt = NaN
      while (Number.isNaN(doneAt) && performance.now() - wroteAt < 120000) {
        await sleep(200)
        if (await probe(port, file)) doneAt = performance.now()
      }
      if (Number.isNaN(doneAt)) throw new Error(`${file} was not in force within 120 s:\n${h.tail()}`)
      await sleep(1000)
      const reloadEld = await eld(port, true)
      const reloadTo = performance.now()
      await load.end()
      const quiet = summary(load.samples.filter((s) => s.at >= quietFrom && s.at < quietTo).map((s) => s.ms))
      const during = summary(load.samples.filter((s) => s.at >= wroteAt && s.at < reloadTo).map((s) => s.ms))
      out.push({ file, quiet, during, quietEld, reloadEld, reloadMs: doneAt - wroteAt })
    }
    if (!h.alive()) throw new Error(`Haraka died:\n${h.tail()}`)
  } finally {
    await h.stop()
  }
  return out
}

module.exports = { compareRates, reloadStall, aclFile, domainsFile, iniFile }
