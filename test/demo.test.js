'use strict'
// `npm start` (scripts/start.js) as a new user runs it: the demo starts on
// a port of its own, prints its start line, and relays at once. A client
// over plain TCP (and TLS after STARTTLS) relays through it:
//  - from 127.0.0.2 (not in the demo's relay_acl_allow): the accept domain
//    and the nexthop domain are accepted and their messages reach the
//    demo's sinks, which print them; a stranger domain is refused with 550;
//  - from 127.0.0.1 (listed): a stranger domain relays;
//  - from 127.0.0.2 after STARTTLS and AUTH as the printed demo user: a
//    stranger domain relays;
//  - an edit of the demo's relay_acl_allow is read again while it runs.
// Ctrl-C (SIGINT to the process group) stops Haraka and the sinks.

const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const tls = require('node:tls')
const { after, before, describe, it } = require('node:test')

const REPO = path.resolve(__dirname, '..')
const START = path.join(REPO, 'scripts', 'start.js')
const CLI = path.join(REPO, 'js', 'cli.js')

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// A small SMTP client: one command, one (possibly multi-line) reply.
class Client {
  constructor(socket) {
    this.socket = socket
    this.buffer = ''
    this.waiting = null
    this.replies = []
    this.attach(socket)
  }

  attach(socket) {
    socket.setEncoding('utf8')
    socket.on('data', (d) => {
      this.buffer += d
      this.parse()
    })
    socket.on('error', (err) => this.waiting?.reject(err))
  }

  parse() {
    for (;;) {
      // a reply ends at a line "ddd text" (a space, not a dash, after the code)
      const m = /^((?:\d{3}-[^\n]*\n)*)(\d{3})(?: [^\n]*)?\n/.exec(this.buffer.replace(/\r/g, ''))
      if (!m) return
      const text = m[0]
      this.buffer = this.buffer.replace(/\r/g, '').slice(text.length)
      this.replies.push({ code: Number(m[2]), text: text.trim() })
      this.flush()
    }
  }

  flush() {
    if (this.waiting && this.replies.length) {
      const { resolve } = this.waiting
      this.waiting = null
      resolve(this.replies.shift())
    }
  }

  reply(timeout = 15000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply in ${timeout} ms (buffer: ${JSON.stringify(this.buffer)})`)), timeout)
      this.waiting = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      }
      this.flush()
    })
  }

  send(line) {
    this.socket.write(`${line}\r\n`)
    return this.reply()
  }

  static async open(port, localAddress) {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress })
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    const c = new Client(socket)
    const greeting = await c.reply()
    assert.equal(greeting.code, 220, greeting.text)
    const ehlo = await c.send('EHLO client.demo.test')
    assert.equal(ehlo.code, 250, ehlo.text)
    c.ehlo = ehlo.text
    return c
  }

  async starttls() {
    const r = await this.send('STARTTLS')
    assert.equal(r.code, 220, r.text)
    this.socket.removeAllListeners('data')
    // the demo's certificate is a throwaway, self-signed one
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false, servername: 'relay-wasm.demo' })
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject))
    this.socket = secure
    this.buffer = ''
    this.attach(secure)
    const ehlo = await this.send('EHLO client.demo.test')
    assert.equal(ehlo.code, 250, ehlo.text)
    this.ehlo = ehlo.text
  }

  async message(subject) {
    let r = await this.send('DATA')
    assert.equal(r.code, 354, r.text)
    r = await this.send(`From: <you@demo.test>\r\nSubject: ${subject}\r\n\r\nhello from test/demo.test.js\r\n.`)
    assert.equal(r.code, 250, r.text)
  }

  async close() {
    await this.send('QUIT').catch(() => {})
    this.socket.destroy()
  }
}

describe('npm start: the demo relays at once', { timeout: 180000 }, () => {
  let demo
  let port
  let runDir
  let password
  const lines = []
  const watchers = []
  let exited = null

  // resolves to the first output line (from `from` on) that matches re
  function waitFor(re, timeout = 30000, from = 0) {
    const found = lines.slice(from).find((l) => re.test(l))
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const w = {
        re,
        resolve: (l) => (clearTimeout(timer), resolve(l)),
      }
      const timer = setTimeout(() => {
        watchers.splice(watchers.indexOf(w), 1)
        reject(new Error(`no line matching ${re} in ${timeout} ms; output:\n${lines.slice(-40).join('\n')}`))
      }, timeout)
      watchers.push(w)
    })
  }

  function onLine(line) {
    lines.push(line)
    for (const w of [...watchers]) {
      if (w.re.test(line)) {
        watchers.splice(watchers.indexOf(w), 1)
        w.resolve(line)
      }
    }
  }

  before(async () => {
    port = await freePort()
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-demo-'))
    demo = spawn(process.execPath, [START], {
      cwd: REPO,
      env: { ...process.env, RELAY_WASM_LISTEN: `127.0.0.1:${port}`, RELAY_WASM_DEMO_DIR: runDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: the test stops it as Ctrl-C would
    })
    exited = new Promise((resolve) => demo.on('close', (code, signal) => resolve({ code, signal })))
    for (const stream of [demo.stdout, demo.stderr]) {
      let rest = ''
      stream.setEncoding('utf8')
      stream.on('data', (d) => {
        const parts = (rest + d).split('\n')
        rest = parts.pop()
        for (const l of parts) onLine(l)
      })
    }
    // the demo's config holds the relay policy it ships (relay-check --expect), checked before Haraka starts
    await waitFor(/^relay-wasm demo: relay policy: .*relay-policy\.txt: 6 of 6 expectations hold$/, 60000)
    const start = await waitFor(/^relay-wasm demo ready: /, 60000)
    await waitFor(/^ {2}Ctrl-C stops Haraka and the sinks\.$/) // the last line of the start text
    password = /password (\S+)$/.exec(start)?.[1]
    assert.ok(password, `no password in the start line: ${start}`)
  })

  after(async () => {
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      try {
        process.kill(-demo.pid, 'SIGKILL')
      } catch {}
      await exited
    }
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true })
  })

  it('prints a start line that says where it listens and what to try, and loads with no ERROR', () => {
    const start = lines.findIndex((l) => l.startsWith('relay-wasm demo ready: '))
    assert.match(lines[start], new RegExp(`Haraka on 127\\.0\\.0\\.1:${port} with relay-wasm, STARTTLS .* AUTH .* user demo, password `))
    const rest = lines.slice(start).join('\n')
    assert.match(rest, /python3 -c "import smtplib; /)
    assert.match(rest, new RegExp(`openssl s_client -starttls smtp -connect 127\\.0\\.0\\.1:${port}`))
    assert.ok(rest.includes(`s.login('demo','${password}')`))
    assert.ok(rest.includes(path.join(runDir, 'config', 'relay_acl_allow')), 'names the file to edit for a reload')
    assert.deepEqual(lines.filter((l) => /\[(ERROR|CRIT|EMERG)\]/.test(l)), [])
  })

  it('has its own relay config, clean for relay-check, and leaves the shipped one closed', () => {
    const r = spawnSync(process.execPath, [CLI, path.join(runDir, 'config'), '--strict', '--format', 'json'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const doc = JSON.parse(r.stdout)
    assert.deepEqual(doc.diagnostics.filter((d) => d.severity !== 'note'), [])
    assert.deepEqual(doc.settings, { acl: true, force_routing: true, dest_domains: true, all: false })
    const entries = (file) => fs.readFileSync(path.join(REPO, 'config', file), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !/^[#;]/.test(l))
    assert.deepEqual(entries('relay_acl_allow'), [])
    assert.deepEqual(entries('relay_dest_domains.ini'), ['[domains]'])
  })

  it('from a client not in relay_acl_allow: accept and nexthop domains are delivered to the sinks, a stranger is refused', async () => {
    const subject = `dest domains ${process.pid}`
    const from = lines.length
    const c = await Client.open(port, '127.0.0.2')
    assert.equal((await c.send('MAIL FROM:<you@demo.test>')).code, 250)
    assert.equal((await c.send('RCPT TO:<a@example.com>')).code, 250)
    assert.equal((await c.send('RCPT TO:<b@partner.test>')).code, 250)
    const stranger = await c.send('RCPT TO:<someone@far.test>')
    assert.equal(stranger.code, 550, stranger.text)
    assert.match(stranger.text, /not allowed to relay/)
    await c.message(subject)
    await c.close()
    const nexthop = await waitFor(new RegExp(`^relay-wasm demo: nexthop sink 127\\.0\\.0\\.1:\\d+ received MAIL FROM:<you@demo\\.test> RCPT TO:<b@partner\\.test> .*Subject: ${subject}\\)$`), 30000, from)
    const nexthopPort = /:(\d+) received/.exec(nexthop)[1]
    const dd = fs.readFileSync(path.join(runDir, 'config', 'relay_dest_domains.ini'), 'utf8')
    assert.match(dd, new RegExp(`^partner\\.test = \\{ "action": "accept", "nexthop": "smtp://127\\.0\\.0\\.1:${nexthopPort}" \\}$`, 'm'))
    assert.match(dd, /^example\.com = \{ "action": "accept" \}$/m)
    await waitFor(new RegExp(`^relay-wasm demo: MX stand-in sink 127\\.0\\.0\\.1:\\d+ received MAIL FROM:<you@demo\\.test> RCPT TO:<a@example\\.com> .*Subject: ${subject}\\)$`), 30000, from)
    assert.deepEqual(lines.slice(from).filter((l) => /sink .*received.*far\.test/.test(l)), [])
  })

  it('from 127.0.0.1 (in relay_acl_allow): a stranger domain relays, to the MX stand-in', async () => {
    const subject = `by address ${process.pid}`
    const from = lines.length
    const c = await Client.open(port)
    assert.equal((await c.send('MAIL FROM:<you@demo.test>')).code, 250)
    assert.equal((await c.send('RCPT TO:<someone@far.test>')).code, 250)
    await c.message(subject)
    await c.close()
    await waitFor(new RegExp(`^relay-wasm demo: MX stand-in sink .* RCPT TO:<someone@far\\.test> .*Subject: ${subject}\\)$`), 30000, from)
  })

  it('from 127.0.0.2 after STARTTLS and AUTH as the printed user: a stranger domain relays', async () => {
    const subject = `after auth ${process.pid}`
    const from = lines.length
    const c = await Client.open(port, '127.0.0.2')
    assert.match(c.ehlo, /STARTTLS/)
    await c.starttls()
    assert.match(c.ehlo, /AUTH .*PLAIN/)
    const wrong = await c.send(`AUTH PLAIN ${Buffer.from(`\0demo\0not-${password}`).toString('base64')}`)
    assert.equal(wrong.code, 535, wrong.text)
    const ok = await c.send(`AUTH PLAIN ${Buffer.from(`\0demo\0${password}`).toString('base64')}`)
    assert.equal(ok.code, 235, ok.text)
    assert.equal((await c.send('MAIL FROM:<you@demo.test>')).code, 250)
    assert.equal((await c.send('RCPT TO:<someone@far.test>')).code, 250)
    await c.message(subject)
    await c.close()
    await waitFor(new RegExp(`^relay-wasm demo: MX stand-in sink .* RCPT TO:<someone@far\\.test> .*Subject: ${subject}\\)$`), 30000, from)
  })

  it('reads an edit of its relay_acl_allow while it runs', async () => {
    const before = await Client.open(port, '127.0.0.2')
    assert.equal((await before.send('MAIL FROM:<you@demo.test>')).code, 250)
    assert.equal((await before.send('RCPT TO:<someone@far.test>')).code, 550)
    await before.close()
    const from = lines.length
    fs.appendFileSync(path.join(runDir, 'config', 'relay_acl_allow'), '127.0.0.2\n')
    await waitFor(/\[relay-wasm\] relay_acl_allow in force \(0 errors\)/, 60000, from)
    const c = await Client.open(port, '127.0.0.2')
    assert.equal((await c.send('MAIL FROM:<you@demo.test>')).code, 250)
    assert.equal((await c.send('RCPT TO:<someone@far.test>')).code, 250)
    await c.close()
  })

  it('stops Haraka and the sinks on Ctrl-C', async () => {
    process.kill(-demo.pid, 'SIGINT')
    const { code } = await exited
    assert.equal(code, 0)
    assert.ok(lines.includes('relay-wasm demo: stopped'))
    // nothing listens on the port any more, and no process of the group is left
    await assert.rejects(
      new Promise((resolve, reject) => net.connect({ host: '127.0.0.1', port }).once('connect', resolve).once('error', reject)),
      { code: 'ECONNREFUSED' },
    )
    assert.throws(() => process.kill(-demo.pid, 0), { code: 'ESRCH' })
  })
})

it('npm start without openssl says how to install it', () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-demo-'))
  try {
    const r = spawnSync(process.execPath, [START], {
      env: { ...process.env, PATH: path.join(runDir, 'empty'), RELAY_WASM_DEMO_DIR: runDir },
      encoding: 'utf8',
      timeout: 30000,
    })
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /openssl is not installed.*\n.*apt-get install openssl/)
    assert.ok(!fs.existsSync(path.join(runDir, 'config', 'smtp.ini')), 'Haraka was not set up')
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true })
  }
})
