'use strict'
// End to end: a real Haraka (node_modules/Haraka) with relay-wasm loaded from
// this repo, spoken to over SMTP from several loopback source addresses
// (Linux routes all of 127/8 to lo).
//
//   node --test test/e2e.test.js

const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const REPO = path.resolve(__dirname, '..')
const HARAKA_BIN = path.join(path.dirname(require.resolve('Haraka/package.json')), 'bin', 'haraka')

const ACL_CLIENT = '127.0.0.2' // listed in relay_acl_allow
const OTHER_CLIENT = '127.0.0.3' // never listed
const LATE_CLIENT = '127.0.0.4' // added to relay_acl_allow while Haraka runs

const RELAY_INI = '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\nall=false\n'
const DOMAINS = [
  '[domains]',
  'accept.example = { "action": "accept" }',
  'continue.example = { "action": "continue" }',
  'deny.example = { "action": "deny" }',
  'route-only.example = { "nexthop": "192.0.2.26" }',
  'broken.example = { "action": "accept"',
  '',
].join('\n')

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// A minimal SMTP client: send a line, await the (possibly multi-line) reply.
class Smtp {
  static open(port, localAddress) {
    return new Promise((resolve, reject) => {
      const client = new Smtp()
      client.sock = net.connect({ host: '127.0.0.1', port, localAddress })
      client.sock.setEncoding('utf8')
      client.sock.on('data', (chunk) => client.onData(chunk))
      client.sock.on('error', (err) => {
        reject(err)
        client.fail(err)
      })
      client.sock.on('close', () => client.fail(new Error('connection closed')))
      client.sock.once('connect', () => client.reply().then(() => resolve(client), reject))
    })
  }

  constructor() {
    this.buf = ''
    this.lines = []
    this.waiters = []
  }

  onData(chunk) {
    this.buf += chunk
    let i
    while ((i = this.buf.indexOf('\r\n')) >= 0) {
      this.lines.push(this.buf.slice(0, i))
      this.buf = this.buf.slice(i + 2)
    }
    this.flush()
  }

  flush() {
    while (this.waiters.length) {
      const end = this.lines.findIndex((l) => /^\d{3}(?: |$)/.test(l))
      if (end < 0) return
      const lines = this.lines.splice(0, end + 1)
      const { resolve } = this.waiters.shift()
      resolve({ code: Number(lines[0].slice(0, 3)), text: lines.map((l) => l.slice(4)).join('\n') })
    }
  }

  fail(err) {
    for (const { reject } of this.waiters.splice(0)) reject(err)
  }

  reply() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('SMTP reply timeout')), 10000)
      this.waiters.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      })
      this.flush()
    })
  }

  send(line) {
    this.sock.write(`${line}\r\n`)
    return this.reply()
  }

  close() {
    this.sock.end('QUIT\r\n')
    this.sock.destroy()
  }
}

let port
let dir
let haraka
let harakaOutput = ''

function startHaraka() {
  return new Promise((resolve, reject) => {
    haraka = spawn(process.execPath, [HARAKA_BIN, '-c', dir], {
      cwd: dir,
      // queue/discard discards only when told to
      env: { ...process.env, YES_REALLY_DO_DISCARD: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    haraka.stdout.on('data', (d) => (harakaOutput += d))
    haraka.stderr.on('data', (d) => (harakaOutput += d))
    haraka.once('exit', (code) => reject(new Error(`Haraka exited with ${code}:\n${harakaOutput}`)))
    const deadline = Date.now() + 20000
    const probe = () => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', () => {
        s.destroy()
        if (Date.now() > deadline) reject(new Error(`Haraka did not listen on ${port}:\n${harakaOutput}`))
        else setTimeout(probe, 150)
      })
    }
    probe()
  })
}

function stopHaraka() {
  if (haraka && haraka.exitCode === null && haraka.signalCode === null) haraka.kill('SIGKILL')
}
process.on('exit', stopHaraka)

// One transaction from `from`: EHLO, MAIL, each RCPT, DATA if any recipient
// was accepted. Returns the RCPT codes and the final DATA code (or null).
async function transaction(from, rcpts) {
  const c = await Smtp.open(port, from)
  try {
    assert.equal((await c.send('EHLO client.example')).code, 250)
    assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
    const codes = []
    const texts = []
    for (const r of rcpts) {
      const reply = await c.send(`RCPT TO:<${r}>`)
      codes.push(reply.code)
      texts.push(reply.text)
    }
    let data = null
    if (codes.includes(250)) {
      assert.equal((await c.send('DATA')).code, 354)
      data = (await c.send('Subject: relay-wasm e2e\r\n\r\nhello\r\n.')).code
    }
    return { codes, texts, data }
  } finally {
    c.close()
  }
}

describe('relay-wasm in a real Haraka', { timeout: 60000 }, () => {
  before(async () => {
    port = await freePort()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-e2e-'))
    const cfg = path.join(dir, 'config')
    fs.mkdirSync(cfg)
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(REPO, path.join(dir, 'node_modules', 'haraka-plugin-relay-wasm'), 'dir')
    const files = {
      'smtp.ini': `[main]\nlisten=127.0.0.1:${port}\nnodes=0\n`,
      plugins: 'relay-wasm\nqueue/discard\n',
      me: 'relay-wasm-e2e.test\n',
      'log.ini': '[main]\nlevel=info\n',
      'relay.ini': RELAY_INI,
      relay_acl_allow: `${ACL_CLIENT}/32\n`,
      'relay_dest_domains.ini': DOMAINS,
    }
    // what `haraka -i` would install besides these: connection.ini
    fs.copyFileSync(path.join(path.dirname(HARAKA_BIN), '..', 'config', 'connection.ini'), path.join(cfg, 'connection.ini'))
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(cfg, name), text)
    await startHaraka()
  })

  after(() => {
    stopHaraka()
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  it('logs the diagnostics of the config files at start', () => {
    assert.match(harakaOutput, /relay_dest_domains\.ini:6: error: .+ \[[\w-]+\]/)
  })

  it('an ACL client relays to any domain', async () => {
    const r = await transaction(ACL_CLIENT, ['a@anywhere.example', 'b@deny.example', 'c@elsewhere.example'])
    assert.deepEqual(r.codes, [250, 250, 250])
    assert.equal(r.data, 250)
  })

  it('a client not in the ACL is refused for an unlisted domain', async () => {
    const r = await transaction(OTHER_CLIENT, ['a@anywhere.example'])
    assert.deepEqual(r.codes, [550])
    assert.match(r.texts[0], /You are not allowed to relay/)
  })

  it('dest_domains: accept and continue relay, deny, route-only and broken entries refuse', async () => {
    let r = await transaction(OTHER_CLIENT, ['a@accept.example'])
    assert.deepEqual(r.codes, [250])
    assert.equal(r.data, 250)
    r = await transaction(OTHER_CLIENT, ['a@continue.example'])
    assert.deepEqual(r.codes, [250])
    assert.equal(r.data, 250)
    r = await transaction(OTHER_CLIENT, ['a@deny.example'])
    assert.deepEqual(r.codes, [550])
    assert.match(r.texts[0], /You are not allowed to relay/)
    r = await transaction(OTHER_CLIENT, ['a@route-only.example', 'b@broken.example'])
    assert.deepEqual(r.codes, [550, 550])
    assert.match(r.texts[0], /Mail for that recipient is not accepted here\./)
    assert.match(r.texts[1], /Mail for that recipient is not accepted here\./)
  })

  it('per recipient: a listed domain does not open relaying to the next one', async () => {
    const r = await transaction(OTHER_CLIENT, ['a@accept.example', 'victim@elsewhere.example', 'b@continue.example'])
    assert.deepEqual(r.codes, [250, 550, 250])
    assert.match(r.texts[1], /You are not allowed to relay/)
    assert.equal(r.data, 250)
  })

  it('an edit of relay_acl_allow takes effect without a restart', { timeout: 25000 }, async () => {
    assert.deepEqual((await transaction(LATE_CLIENT, ['a@anywhere.example'])).codes, [550])
    fs.appendFileSync(path.join(dir, 'config', 'relay_acl_allow'), `${LATE_CLIENT}\n`)
    const deadline = Date.now() + 15000
    for (;;) {
      const { codes } = await transaction(LATE_CLIENT, ['a@anywhere.example'])
      if (codes[0] === 250) break
      assert.ok(Date.now() < deadline, `relay_acl_allow edit not picked up in 15 s:\n${harakaOutput.slice(-3000)}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    // the other client is still refused
    assert.deepEqual((await transaction(OTHER_CLIENT, ['a@anywhere.example'])).codes, [550])
  })
})
