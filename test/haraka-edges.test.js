'use strict'
// relay-wasm at Haraka's edges, in a real Haraka (node_modules/Haraka):
//  - behind a proxy (connection.ini [haproxy] hosts), a client that sends a
//    PROXY line of its own after the proxy's does not buy relaying, on a
//    plain port and on port 465 (TLS from the first byte);
//  - a client address with an IPv6 zone id (from a PROXY line) matches
//    relay_acl_allow without it;
//  - a real failure of the module (a build that traps on purpose, preset
//    wasm-test-traps, loaded through RELAY_WASM_MODULE) reaches the client as
//    a temporary failure (450), never as a permanent 550, and the next
//    session is answered right;
//  - a real out-of-memory of the module (relay.wasm with the maximum of its
//    memory lowered, test/support/capped-wasm.js, loaded through
//    RELAY_WASM_MODULE): a reload of relay_dest_domains.ini that runs out of
//    memory gives 450 for what that file decides while the ACL still
//    relays, and the next good text of the file is answered right (the
//    plugin-level details are in test/oom.test.js);
//  - SMTP AUTH inside a transaction, after a dest_domains grant, relays the
//    later recipients, as in 1.0.2.
//
//   node --test test/haraka-edges.test.js

const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const { Haraka, REPO, Smtp, canListen, freePort, makeTlsFiles, randomLoopback, transaction } = require('./lib/haraka')
const { cappedWasm } = require('./support/capped-wasm')

const PROXY_PEER = '127.0.0.99' // the "load balancer" allowed to send PROXY lines
const USER = 'edgeuser'
const PASS = 'edge pass word'

// relay.wasm built with RELAY_TEST_TRAPS: traps on the client 127.0.0.254
// and the domain trap.invalid (src/exports.c).
function buildTrapModule() {
  const dir = path.join(REPO, 'build', 'wasm-test-traps')
  execFileSync('cmake', ['--preset', 'wasm-test-traps', '-Wno-dev'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] })
  execFileSync('cmake', ['--build', dir, '--target', 'relay', '-j', '2'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] })
  return path.join(dir, 'relay.wasm')
}

// The committed relay.wasm whose memory may grow to 24 pages (1.5 MiB) only.
function buildCappedModule() {
  const dir = path.join(REPO, 'build', 'wasm-test-oom')
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'relay.wasm')
  fs.writeFileSync(file, cappedWasm(fs.readFileSync(path.join(REPO, 'wasm', 'relay.wasm')), 24))
  return file
}

// 25,000 entries (914,000 characters, loaded on the event loop): more than
// 24 pages hold once parsed
function bigDomains() {
  const lines = ['[domains]']
  for (let i = 0; i < 25000; i++) lines.push(`d${i}.example = {"action":"accept"}`)
  return lines.join('\n') + '\n'
}

// Resolves with the output from `from` on once it matches re (Haraka's
// reload of a file comes 5 s or more after the write); fails after `limit` ms
// without it.
async function outputMatches(haraka, re, from, limit = 60000) {
  const end = Date.now() + limit
  while (!re.test(haraka.output.slice(from))) {
    if (Date.now() > end) assert.fail(`no ${re} in the log of ${haraka.opts.name}:\n${haraka.output.slice(from).slice(-3000)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return haraka.output.slice(from)
}

describe('relay-wasm at the edges of Haraka', { timeout: 180000 }, () => {
  let proxied // Haraka behind a proxy, with 465
  let trapping // Haraka with the trapping module
  let starved // Haraka with a module whose memory is capped
  let authing // Haraka with tls + auth/flat_file
  let plainPort
  let trapPort
  let oomPort
  let authPort
  let smtpsHost
  let smtpsSkip = null
  let ca

  before(async () => {
    const trapModule = buildTrapModule()
    const cappedModule = buildCappedModule()
    plainPort = await freePort()
    trapPort = await freePort()
    oomPort = await freePort()
    authPort = await freePort()
    smtpsHost = randomLoopback()
    const err465 = await canListen(smtpsHost, 465)
    if (err465) smtpsSkip = `cannot listen on ${smtpsHost}:465 (${err465}); run as root`
    const listen = [`127.0.0.1:${plainPort}`]
    if (!smtpsSkip) listen.push(`${smtpsHost}:465`)
    proxied = new Haraka({
      name: 'edges-proxy',
      listen,
      proxyHosts: [PROXY_PEER],
      plugins: ['tls', 'relay-wasm', 'queue/discard'],
      files: {
        'tls.ini': '[main]\nkey=tls_key.pem\ncert=tls_cert.pem\ndhparam=dhparams.pem\n',
        'relay.ini': '[relay]\nacl=true\ndest_domains=false\n',
        relay_acl_allow: '10.0.0.0/8\nfe80::/10\n',
      },
      setup: (h) => (ca = makeTlsFiles(h.cfg).cert),
    })
    trapping = new Haraka({
      name: 'edges-trap',
      listen: [`127.0.0.1:${trapPort}`],
      env: { RELAY_WASM_MODULE: trapModule },
      files: {
        'relay.ini': '[relay]\nacl=true\ndest_domains=true\n',
        relay_acl_allow: '127.0.0.0/24\n',
        'relay_dest_domains.ini': '[domains]\nok.example = {"action":"accept"}\ntrap.invalid = {"action":"accept"}\n',
      },
    })
    starved = new Haraka({
      name: 'edges-oom',
      listen: [`127.0.0.1:${oomPort}`],
      env: { RELAY_WASM_MODULE: cappedModule },
      files: {
        'relay.ini': '[relay]\nacl=true\ndest_domains=true\n',
        relay_acl_allow: '127.0.0.0/24\n',
        'relay_dest_domains.ini': '[domains]\nok.example = {"action":"accept"}\n',
      },
    })
    authing = new Haraka({
      name: 'edges-auth',
      listen: [`127.0.0.1:${authPort}`],
      plugins: ['auth/flat_file', 'relay-wasm', 'queue/discard'],
      files: {
        'auth_flat_file.ini': `[core]\nmethods=PLAIN,LOGIN\nconstrain_sender=false\n\n[users]\n${USER}=${PASS}\n`,
        'relay.ini': '[relay]\nacl=true\ndest_domains=true\n',
        relay_acl_allow: '',
        'relay_dest_domains.ini': '[domains]\nlisted.example = {"action":"accept"}\ngo-on.example = {"action":"continue"}\n',
      },
    })
    await Promise.all([proxied.start(), trapping.start(), starved.start(), authing.start()])
  })

  after(async () => {
    await Promise.all([proxied, trapping, starved, authing].map((h) => h?.stop()))
  })

  const proxyLine = (src, port) => `PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${src.includes(':') ? '::1' : '127.0.0.1'} 40000 ${port}`

  async function viaProxy(src, { port = plainPort, host = '127.0.0.1', tls = false } = {}) {
    return Smtp.open({ port, host, localAddress: PROXY_PEER, proxy: proxyLine(src, port), tls: tls ? { ca } : undefined })
  }

  // 250 when the client may relay; else the code that refused it (on 465
  // Haraka refuses MAIL FROM already, 550, unless the client relays)
  async function relays(c) {
    const m = await c.send('MAIL FROM:<sender@client.example>')
    if (m.code !== 250) return m.code
    const r = await c.send('RCPT TO:<victim@external.example>')
    await c.send('RSET')
    return r.code
  }

  it('the address of the proxy\'s line decides: listed relays, unlisted does not', async () => {
    for (const [src, code] of [
      ['10.9.9.9', 250],
      ['192.0.2.9', 550],
    ]) {
      const c = await viaProxy(src)
      try {
        await c.ehlo()
        assert.equal(await relays(c), code, src)
      } finally {
        await c.quit()
      }
    }
  })

  it('a second PROXY line, before or after EHLO, never buys relaying', async () => {
    for (const when of ['before EHLO', 'after EHLO']) {
      const mark = proxied.output.length
      const c = await viaProxy('192.0.2.9')
      try {
        if (when === 'after EHLO') await c.ehlo()
        // Haraka takes it (the PROXY permission stays for the session) and
        // runs connect_init again with 10.9.9.9, which is listed
        await c.send(proxyLine('10.9.9.9', plainPort))
        await c.ehlo()
        assert.equal(await relays(c), 550, when)
      } finally {
        await c.quit()
      }
      assert.match(proxied.output.slice(mark), /client address changed from 192\.0\.2\.9 to 10\.9\.9\.9/)
    }
  })

  it('on port 465 (TLS from the first byte), a PROXY line inside TLS buys nothing either', async () => {
    if (smtpsSkip) assert.fail(smtpsSkip)
    const listed = await viaProxy('10.1.2.3', { port: 465, host: smtpsHost, tls: true })
    try {
      assert.ok(listed.secure)
      await listed.ehlo()
      assert.equal(await relays(listed), 250)
    } finally {
      await listed.quit()
    }
    const c = await viaProxy('192.0.2.10', { port: 465, host: smtpsHost, tls: true })
    try {
      await c.ehlo()
      await c.send(proxyLine('10.9.9.9', 465))
      await c.ehlo()
      assert.equal(await relays(c), 550)
    } finally {
      await c.quit()
    }
  })

  it('a client address with an IPv6 zone id matches relay_acl_allow without it', async () => {
    const c = await viaProxy('fe80::1%eth0')
    try {
      await c.ehlo()
      assert.equal(await relays(c), 250)
    } finally {
      await c.quit()
    }
  })

  it('the shipped module has no test traps', () => {
    const { createEngine } = require('../js/engine')
    assert.equal(process.env.RELAY_WASM_MODULE, undefined)
    const e = createEngine()
    e.load('relay_acl_allow', '127.0.0.0/24\n')
    e.load('relay_dest_domains.ini', '[domains]\ntrap.invalid = {"action":"accept"}\n')
    assert.deepEqual(e.aclMatch('127.0.0.254'), { line: 1 })
    assert.equal(e.rcpt('trap.invalid').action, 'accept')
  })

  it('a trap of the module at connect_init: 450 at RCPT for a listed client, then the next session relays', async () => {
    // 127.0.0.254 is listed; the module traps when asked about it
    const r = await transaction(trapPort, '127.0.0.254', ['victim@external.example'])
    assert.deepEqual(r.codes, [450], r.texts.join(' | '))
    assert.match(trapping.output, /engine failure while checking relay_acl_allow/)
    assert.deepEqual((await transaction(trapPort, '127.0.0.2', ['victim@external.example'])).codes, [250])
  })

  it('a trap of the module at RCPT: 450 for that recipient, the next one is answered right', async () => {
    const r = await transaction(trapPort, '127.0.1.3', ['a@trap.invalid', 'b@ok.example', 'victim@external.example'])
    assert.deepEqual(r.codes, [450, 250, 550], r.texts.join(' | '))
  })

  it('a reload that runs the module out of memory: 450 for what the file decides, the ACL still relays, the next good text is answered right', async () => {
    // 127.0.1.5 is not listed: its recipients are decided by relay_dest_domains.ini
    assert.deepEqual((await transaction(oomPort, '127.0.1.5', ['a@ok.example', 'v@external.example'])).codes, [250, 550])
    let from = starved.output.length
    starved.writeAtomic('relay_dest_domains.ini', bigDomains())
    const log = await outputMatches(starved, /answering DENYSOFT for what relay_dest_domains\.ini decides/, from)
    assert.match(log, /engine failure while loading relay_dest_domains\.ini: .*out of memory/)
    const r = await transaction(oomPort, '127.0.1.5', ['a@ok.example', 'b@d1.example', 'v@external.example'])
    assert.deepEqual(r.codes, [450, 450, 450], r.texts.join(' | '))
    // a fresh instance with the last good texts: relay_acl_allow still answers
    assert.deepEqual((await transaction(oomPort, '127.0.0.7', ['v@external.example'])).codes, [250])
    from = starved.output.length
    starved.writeAtomic('relay_dest_domains.ini', '[domains]\nnew.example = {"action":"accept"}\n')
    await outputMatches(starved, /relay_dest_domains\.ini loaded; its decisions are in force again/, from)
    assert.deepEqual((await transaction(oomPort, '127.0.1.5', ['a@new.example', 'b@ok.example'])).codes, [250, 550])
  })

  it('SMTP AUTH inside a transaction, after a dest_domains grant, relays every later recipient', async () => {
    for (const first of ['listed.example', 'go-on.example']) {
      const c = await Smtp.open({ port: authPort, localAddress: '127.0.0.3' })
      try {
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        assert.equal((await c.send(`RCPT TO:<a@${first}>`)).code, 250)
        assert.equal((await c.send('RCPT TO:<victim@elsewhere.example>')).code, 550)
        assert.equal((await c.authPlain(USER, PASS)).code, 235)
        assert.equal((await c.send('RCPT TO:<b@elsewhere.example>')).code, 250, first)
      } finally {
        await c.quit()
      }
    }
  })
})
