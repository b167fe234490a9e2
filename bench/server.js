/*
 * bench/server.js - whole-server figures: a real Haraka on loopback with
 * relay-wasm, then with haraka-plugin-relay 1.0.2, same config, same client.
 *
 * For: bench/run.js (table "Whole server").  Connections per second: open,
 * greeting, EHLO, QUIT, from an address listed in relay_acl_allow, several
 * at a time.  Recipients per second: in sessions of one MAIL FROM and many
 * RCPT TO, each recipient decided by the relay plugin (a dest_domains entry,
 * client not in the ACL).  Loopback only; every loop ends by time.
 */
'use strict'

const { Haraka, Smtp, freePort, sleep } = require('../test/lib/haraka')

const CLIENT = '127.0.0.2'

function aclFile(n) {
  // n entries, the client's own /32 among them (last, so 1.0.2 scans them all)
  const lines = []
  for (let i = 0; lines.length < n - 1; i++) lines.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`)
  lines.push(`${CLIENT}/32`)
  return lines.join('\n') + '\n'
}

async function start(plugin, entries) {
  const port = await freePort()
  const h = new Haraka({
    name: `bench-${plugin}`,
    listen: [`127.0.0.1:${port}`],
    plugins: [plugin, 'queue/discard'],
    logLevel: 'warn',
    files: {
      'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\n',
      relay_acl_allow: aclFile(entries),
      'relay_dest_domains.ini': '[domains]\nlisted.example = { "action": "accept" }\n',
    },
  })
  await h.start()
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

async function connectionRate(port, seconds) {
  const { sessions, ms } = await drive(seconds, 4, async () => {
    const c = await Smtp.open({ port, localAddress: CLIENT, timeout: 30000 })
    const r = await c.ehlo()
    if (r.code !== 250) throw new Error(`EHLO ${r.code}`)
    await c.quit()
    return 1
  })
  return (sessions / ms) * 1000
}

async function recipientRate(port, seconds, perSession = 50) {
  // a client outside the ACL: each recipient goes through dest_domains
  const { units, ms } = await drive(seconds, 4, async () => {
    const c = await Smtp.open({ port, localAddress: '127.0.0.3', timeout: 30000 })
    await c.ehlo()
    await c.send('MAIL FROM:<bench@client.example>')
    let ok = 0
    for (let i = 0; i < perSession; i++) {
      const r = await c.send(`RCPT TO:<user${i}@listed.example>`)
      if (r.code === 250) ok++
    }
    await c.quit()
    if (ok !== perSession) throw new Error(`only ${ok} of ${perSession} recipients accepted`)
    return ok
  })
  return (units / ms) * 1000
}

/* [{ entries, plugin, conns, rcpts }] */
async function serverBench({ sizes, seconds }) {
  const out = []
  for (const entries of sizes) {
    for (const plugin of ['relay-wasm', 'relay']) {
      const { h } = await start(plugin, entries).then((x) => x)
      try {
        const port = Number(/:(\d+)$/.exec(h.opts.listen[0])[1])
        await sleep(200)
        const conns = await connectionRate(port, seconds)
        const rcpts = await recipientRate(port, seconds)
        out.push({ entries, plugin, conns, rcpts })
      } finally {
        await h.stop()
      }
    }
  }
  return out
}

module.exports = { serverBench }
