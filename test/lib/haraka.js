'use strict'
// Shared by the tests that run a real Haraka (node_modules/Haraka) with
// relay-wasm loaded from this repo: a Haraka started in a throw-away
// directory on loopback ports, a small SMTP client (plain, STARTTLS, implicit
// TLS, PROXY protocol), sinks for outbound delivery (SMTP and LMTP with the
// npm package smtp-server, and a raw SMTP one that takes any address),
// and a throw-away TLS key and certificate made with openssl.
//
// Network: every socket here is on 127.0.0.0/8 or ::1. Haraka looks up the
// PTR name of every client; the test_harness plugin written into each
// Haraka directory answers that hook itself so that no DNS query leaves the
// machine (Haraka would otherwise ask the system resolver).

const assert = require('node:assert/strict')
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const tls = require('node:tls')

const REPO = path.resolve(__dirname, '..', '..')
const HARAKA_DIR = path.dirname(require.resolve('Haraka/package.json'))
const HARAKA_BIN = path.join(HARAKA_DIR, 'bin', 'haraka')

// The name in the throw-away certificate; clients verify it (servername + ca).
const TLS_NAME = 'mx.relay-wasm.test'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// A TCP port the OS says is free on `host` right now.
function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// Whether this process may listen on host:port (ports below 1024 need root
// or CAP_NET_BIND_SERVICE). Resolves to null when it may, else the error code.
function canListen(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', (err) => resolve(err.code || String(err)))
    srv.listen(port, host, () => srv.close(() => resolve(null)))
  })
}

// A random address in 127.0.0.0/8 away from 127.0.0.x, so that Haraka's
// listeners on fixed ports (587, 465) meet nothing else on this machine.
function randomLoopback() {
  const b = () => 1 + Math.floor(Math.random() * 250)
  return `127.${b()}.${b()}.${b()}`
}

// Whether ::1 can be bound here (IPv6 may be off in a container).
async function hasIPv6Loopback() {
  return (await canListen('::1', 0)) === null
}

// A throw-away key, self-signed certificate and DH parameters (the RFC 7919
// ffdhe2048 group, so nothing is generated at length) in `dir`.
function makeTlsFiles(dir) {
  const key = path.join(dir, 'tls_key.pem')
  const cert = path.join(dir, 'tls_cert.pem')
  const dh = path.join(dir, 'dhparams.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${TLS_NAME}`,
    '-addext', `subjectAltName=DNS:${TLS_NAME}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', dh], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  return { key: fs.readFileSync(key), cert: fs.readFileSync(cert), dhparam: fs.readFileSync(dh) }
}

// ---------------------------------------------------------------------------
// SMTP client

// One SMTP session over TCP, optionally upgraded with STARTTLS or TLS from the
// first byte. send() writes one command line and resolves to the (possibly
// multi-line) reply: { code, text, lines }.
class Smtp {
  // opts: port, host (127.0.0.1), localAddress, timeout (ms per reply),
  //   tls: { ca, servername } for implicit TLS (SMTPS),
  //   proxy: a PROXY protocol v1 line (without CRLF) sent before anything else.
  static open(opts) {
    const c = new Smtp(opts)
    return c.connect()
  }

  constructor({ port, host = '127.0.0.1', localAddress, timeout = 10000, tls: tlsOpts, proxy } = {}) {
    Object.assign(this, { port, host, localAddress, timeout, tlsOpts, proxy })
    this.buf = ''
    this.lines = []
    this.waiters = []
    this.closed = false
    this.secure = false
    this.greeting = null
  }

  connect() {
    return new Promise((resolve, reject) => {
      let sock
      const onFail = (err) => reject(err)
      if (this.tlsOpts && this.proxy) {
        // PROXY v1 in clear text, then TLS on the same socket (haproxy in
        // front of an SMTPS port)
        const raw = net.connect({ host: this.host, port: this.port, localAddress: this.localAddress })
        raw.once('error', onFail)
        raw.once('connect', () => {
          raw.write(`${this.proxy}\r\n`)
          sock = tls.connect({ socket: raw, servername: TLS_NAME, ...this.tlsOpts })
          sock.once('secureConnect', () => {
            this.secure = true
            this.reply().then((g) => resolve(this.greeted(g)), onFail)
          })
          sock.once('error', onFail)
          this.attach(sock)
        })
        return
      }
      if (this.tlsOpts) {
        sock = tls.connect({
          host: this.host,
          port: this.port,
          localAddress: this.localAddress,
          servername: TLS_NAME,
          ...this.tlsOpts,
        })
        sock.once('secureConnect', () => {
          this.secure = true
          this.reply().then((g) => resolve(this.greeted(g)), onFail)
        })
      } else {
        sock = net.connect({ host: this.host, port: this.port, localAddress: this.localAddress })
        sock.once('connect', () => {
          if (this.proxy) sock.write(`${this.proxy}\r\n`)
          this.reply().then((g) => resolve(this.greeted(g)), onFail)
        })
      }
      sock.once('error', onFail)
      this.attach(sock)
    })
  }

  greeted(g) {
    this.greeting = g
    return this
  }

  attach(sock) {
    this.sock = sock
    sock.setEncoding('latin1')
    this.onDataBound = (chunk) => this.onData(chunk)
    this.onErrorBound = (err) => this.fail(err)
    this.onCloseBound = () => {
      this.closed = true
      this.fail(new Error('connection closed'))
    }
    sock.on('data', this.onDataBound)
    sock.on('error', this.onErrorBound)
    sock.on('close', this.onCloseBound)
  }

  detach() {
    this.sock.off('data', this.onDataBound)
    this.sock.off('error', this.onErrorBound)
    this.sock.off('close', this.onCloseBound)
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
      resolve({ code: Number(lines[0].slice(0, 3)), text: lines.map((l) => l.slice(4)).join('\n'), lines })
    }
  }

  fail(err) {
    for (const { reject } of this.waiters.splice(0)) reject(err)
  }

  reply() {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'))
      const timer = setTimeout(() => reject(new Error(`SMTP reply timeout (${this.timeout} ms)`)), this.timeout)
      this.waiters.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      })
      this.flush()
    })
  }

  // One command line; CRLF is added.
  send(line) {
    this.sock.write(`${line}\r\n`, 'utf8')
    return this.reply()
  }

  // EHLO, with the reply's keywords (upper-cased lines after the first).
  // Notes which Haraka process answered (XWORKERPID, from test_harness) in
  // Smtp.workers: port -> Set of pids.
  async ehlo(name = 'client.relay-wasm.test') {
    const r = await this.send(`EHLO ${name}`)
    r.keywords = r.lines.slice(1).map((l) => l.slice(4).toUpperCase())
    const pid = r.keywords.map((k) => /^XWORKERPID (\d+)$/.exec(k)).find(Boolean)
    if (pid) {
      this.workerPid = Number(pid[1])
      if (!Smtp.workers.has(this.port)) Smtp.workers.set(this.port, new Set())
      Smtp.workers.get(this.port).add(this.workerPid)
    }
    return r
  }

  // STARTTLS, then the TLS handshake on the same socket.
  async starttls(tlsOpts = {}) {
    const r = await this.send('STARTTLS')
    assert.equal(r.code, 220, `STARTTLS: ${r.code} ${r.text}`)
    assert.equal(this.buf + this.lines.join(''), '', 'nothing may follow the 220 in clear text')
    this.detach()
    const raw = this.sock
    await new Promise((resolve, reject) => {
      const sock = tls.connect({ socket: raw, servername: TLS_NAME, ...tlsOpts })
      sock.once('secureConnect', resolve)
      sock.once('error', reject)
      this.attach(sock)
    })
    this.secure = true
    return r
  }

  // AUTH PLAIN with the credentials on the command line (RFC 4616).
  authPlain(user, pass) {
    return this.send(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`)
  }

  // AUTH LOGIN, the three-step form.
  async authLogin(user, pass) {
    const r1 = await this.send('AUTH LOGIN')
    if (r1.code !== 334) return r1
    const r2 = await this.send(Buffer.from(user).toString('base64'))
    if (r2.code !== 334) return r2
    return this.send(Buffer.from(pass).toString('base64'))
  }

  // DATA with `message` (a string with CRLF line ends, no final dot);
  // dot-stuffs it. Resolves to the reply after the final dot.
  async data(message) {
    const r = await this.send('DATA')
    if (r.code !== 354) return r
    const body = message.replace(/(^|\r\n)\./g, '$1..')
    this.sock.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'utf8')
    return this.reply()
  }

  // QUIT and close; never throws.
  async quit() {
    try {
      if (!this.closed) await this.send('QUIT')
    } catch {
      // the server may already have gone
    }
    this.destroy()
  }

  destroy() {
    this.closed = true
    this.sock?.destroy()
  }
}

Smtp.workers = new Map()

// ---------------------------------------------------------------------------
// Haraka

// A Haraka plugin written into every test Haraka directory (plugins/): it
// answers lookup_rdns itself (keeping all traffic on loopback) and names the
// process that serves the session in EHLO (XWORKERPID), which tells the
// workers of a cluster apart.
const TEST_HARNESS_PLUGIN = `'use strict'
// written by test/lib/haraka.js
exports.hook_lookup_rdns = function (next, connection) {
    next(OK, 'client.relay-wasm.test')
}
exports.hook_capabilities = function (next, connection) {
    connection.capabilities.push('XWORKERPID ' + process.pid)
    next()
}
`

const running = new Set()
function killAll() {
  for (const h of running) {
    h.kill()
    fs.rmSync(h.dir, { recursive: true, force: true })
  }
}
process.once('exit', killAll)
// Haraka runs in a process group of its own (to reach the cluster workers),
// so a signal to this process's group does not reach it: pass it on.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll()
    process.kill(process.pid, sig)
  })
}

// The lines of an output stream, fed whole to `onLine`.
function lineSplitter(onLine) {
  let rest = ''
  return (chunk) => {
    rest += chunk
    let i
    while ((i = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, i))
      rest = rest.slice(i + 1)
    }
  }
}

class Haraka {
  // opts:
  //   name: a label for the temp dir
  //   listen: ['127.0.0.1:2525', ...] (smtp.ini listen)
  //   nodes: smtp.ini nodes (0 = one process)
  //   plugins: plugin names after test_harness
  //   files: { 'relay.ini': text, ... } config files (override the defaults)
  //   smtpIni: extra [main] lines for smtp.ini
  //   proxyHosts: addresses allowed to speak the PROXY protocol
  //   env: extra environment
  //   logLevel: log.ini level (info)
  //   outputLimit: characters of output kept (the tail)
  //   setup: fn(haraka) run after the directory is made, before Haraka starts
  constructor(opts) {
    this.opts = { nodes: 0, plugins: ['relay-wasm', 'queue/discard'], files: {}, logLevel: 'info', outputLimit: 4 << 20, ...opts }
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `relay-wasm-${this.opts.name || 'haraka'}-`))
    this.cfg = path.join(this.dir, 'config')
    this.output = ''
    this.lineListeners = []
    this.proc = null
    this.exited = null
  }

  // path of a config file
  file(name) {
    return path.join(this.cfg, name)
  }

  // Writes a config file in place (open with O_TRUNC, write): a reader may
  // see it empty or, in principle, half written.
  write(name, text) {
    fs.writeFileSync(this.file(name), text)
  }

  // Writes a config file atomically: a temp file in the same directory
  // (a name Haraka does not read), then rename over the old one.
  writeAtomic(name, text) {
    const tmp = path.join(this.cfg, `.tmp-${process.pid}-${name}`)
    fs.writeFileSync(tmp, text)
    fs.renameSync(tmp, this.file(name))
  }

  prepare() {
    const o = this.opts
    fs.mkdirSync(this.cfg, { recursive: true })
    fs.mkdirSync(path.join(this.dir, 'node_modules'))
    fs.mkdirSync(path.join(this.dir, 'plugins'))
    fs.mkdirSync(path.join(this.dir, 'queue'))
    fs.symlinkSync(REPO, path.join(this.dir, 'node_modules', 'haraka-plugin-relay-wasm'), 'dir')
    fs.writeFileSync(path.join(this.dir, 'plugins', 'test_harness.js'), TEST_HARNESS_PLUGIN)

    // connection.ini as `haraka -i` installs it, with the PROXY peers if any
    let conn = fs.readFileSync(path.join(HARAKA_DIR, 'config', 'connection.ini'), 'utf8')
    if (o.proxyHosts?.length) {
      assert.match(conn, /^hosts\[\] =\s*$/m)
      conn = conn.replace(/^hosts\[\] =\s*$/m, o.proxyHosts.map((h) => `hosts[] = ${h}`).join('\n'))
    }
    const files = {
      'smtp.ini': ['[main]', `listen=${o.listen.join(',')}`, `nodes=${o.nodes}`, ...(o.smtpIni || []), ''].join('\n'),
      plugins: ['test_harness', ...o.plugins, ''].join('\n'),
      me: 'relay-wasm.test\n',
      'log.ini': `[main]\nlevel=${o.logLevel}\n`,
      'connection.ini': conn,
      queue_dir: `${path.join(this.dir, 'queue')}\n`,
      ...o.files,
    }
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(this.file(name)), { recursive: true })
      fs.writeFileSync(this.file(name), text)
    }
  }

  append(chunk) {
    this.output += chunk
    if (this.output.length > this.opts.outputLimit) this.output = this.output.slice(-this.opts.outputLimit / 2)
  }

  onLine(fn) {
    this.lineListeners.push(fn)
  }

  tail(n = 4000) {
    return this.output.slice(-n)
  }

  // Starts Haraka and resolves when every listener answers (and, in cluster
  // mode, every worker has reported listening on every address).
  async start({ timeout = 30000 } = {}) {
    this.prepare()
    const o = this.opts
    if (o.setup) o.setup(this)
    this.proc = spawn(process.execPath, [HARAKA_BIN, '-c', this.dir], {
      cwd: this.dir,
      // queue/discard discards only when told to
      env: { ...process.env, YES_REALLY_DO_DISCARD: '1', ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: stop() ends the workers too
    })
    running.add(this)
    const split = lineSplitter((line) => {
      for (const fn of this.lineListeners) fn(line)
    })
    for (const s of [this.proc.stdout, this.proc.stderr]) {
      s.setEncoding('utf8')
      s.on('data', (d) => {
        this.append(d)
        split(d)
      })
    }
    this.exitPromise = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exited = { code, signal }
        running.delete(this)
        resolve(this.exited)
      })
    })

    const deadline = Date.now() + timeout
    const endpoints = o.listen.map((l) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(l)
      return { host: m[1], port: Number(m[2]) }
    })
    for (const ep of endpoints) {
      for (;;) {
        if (this.exited) throw new Error(`Haraka exited (${JSON.stringify(this.exited)}):\n${this.tail()}`)
        if (await this.probe(ep)) break
        if (Date.now() > deadline) throw new Error(`Haraka did not listen on ${ep.host}:${ep.port}:\n${this.tail()}`)
        await sleep(100)
      }
    }
    if (o.nodes > 0) {
      const want = o.nodes * o.listen.length
      for (;;) {
        const n = (this.output.match(/worker \d+ listening on /g) || []).length
        if (n >= want) break
        if (this.exited) throw new Error(`Haraka exited:\n${this.tail()}`)
        if (Date.now() > deadline) throw new Error(`only ${n} of ${want} worker listeners came up:\n${this.tail()}`)
        await sleep(100)
      }
    }
    return this
  }

  probe({ host, port }) {
    return new Promise((resolve) => {
      const s = net.connect({ host, port })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => {
        s.destroy()
        resolve(false)
      })
    })
  }

  get pid() {
    return this.proc?.pid
  }

  // pids of the cluster workers (children of the master)
  workerPids() {
    try {
      return fs
        .readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number)
    } catch {
      return []
    }
  }

  // resident set size of a process of this Haraka, in KiB
  rssKiB(pid = this.pid) {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return Number(m[1])
  }

  alive() {
    return !!this.proc && !this.exited
  }

  kill() {
    if (!this.proc || this.exited) return
    try {
      process.kill(-this.proc.pid, 'SIGKILL') // the group made by detached: true
    } catch {
      try {
        this.proc.kill('SIGKILL')
      } catch {
        // gone already
      }
    }
  }

  // Kills Haraka and removes its directory. With RELAY_WASM_TEST_LOG=<dir>
  // in the environment its output is kept there as <name>-<pid>.log.
  async stop() {
    if (this.proc && !this.exited) {
      this.kill()
      let timer
      await Promise.race([this.exitPromise, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))])
      clearTimeout(timer)
    }
    const logDir = process.env.RELAY_WASM_TEST_LOG
    if (logDir && this.proc) {
      fs.mkdirSync(logDir, { recursive: true })
      fs.writeFileSync(path.join(logDir, `${this.opts.name || 'haraka'}-${this.proc.pid}.log`), this.output)
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------
// SMTP / LMTP sinks for outbound delivery

// A loopback SMTP (or LMTP) server that keeps every message it is given:
// { mailFrom, rcptTo: [...], data: Buffer, remoteAddress, lmtp }.
class Sink {
  constructor({ host = '127.0.0.1', lmtp = false, name = 'sink' } = {}) {
    Object.assign(this, { host, lmtp, name })
    this.messages = []
    this.waiters = []
  }

  async start() {
    const { SMTPServer } = require('smtp-server')
    this.port = await freePort(this.host)
    this.server = new SMTPServer({
      lmtp: this.lmtp,
      name: `${this.name}.relay-wasm.test`,
      disabledCommands: ['AUTH', 'STARTTLS'],
      authOptional: true,
      logger: false,
      onData: (stream, session, callback) => {
        const chunks = []
        stream.on('data', (c) => chunks.push(c))
        stream.on('end', () => {
          this.messages.push({
            mailFrom: session.envelope.mailFrom && session.envelope.mailFrom.address,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks),
            remoteAddress: session.remoteAddress,
            lmtp: this.lmtp,
          })
          for (const w of this.waiters.splice(0)) w()
          callback(null, 'kept')
        })
      },
    })
    await new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, this.host, resolve)
    })
    this.server.on('error', () => {}) // a client gone mid-session is no failure of the test
    return this
  }

  // The nexthop text for this sink: 127.0.0.1:port, [::1]:port, lmtp://...
  get hostport() {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`
  }

  // Resolves to the first message for which pred(msg) holds; rejects after
  // `timeout` ms.
  async waitFor(pred, timeout = 20000) {
    const deadline = Date.now() + timeout
    for (;;) {
      const hit = this.messages.find(pred)
      if (hit) return hit
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.name}: no such message within ${timeout} ms`)
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500))
        this.waiters.push(() => (clearTimeout(t), resolve()))
      })
    }
  }

  stop() {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}

// A loopback SMTP server that takes whatever it is sent: every RCPT TO is
// accepted and its path kept as it was on the wire (between < and >), with no
// opinion on its syntax. smtp-server rightly refuses some addresses that
// Haraka accepts (a quoted local part holding an @), and the open-relay
// battery needs to see every recipient that leaves Haraka, exactly.
// Same interface as Sink: messages [{ mailFrom, rcptTo, data }], waitFor().
class RawSink {
  constructor({ host = '127.0.0.1', name = 'raw' } = {}) {
    Object.assign(this, { host, name })
    this.messages = []
    this.waiters = []
  }

  async start() {
    this.port = await freePort(this.host)
    this.sockets = new Set()
    this.server = net.createServer((sock) => {
      this.sockets.add(sock)
      sock.once('close', () => this.sockets.delete(sock))
      this.session(sock)
    })
    await new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, this.host, resolve)
    })
    return this
  }

  session(sock) {
    let buf = Buffer.alloc(0)
    let env = { mailFrom: null, rcptTo: [] }
    let inData = false
    const say = (line) => sock.write(`${line}\r\n`)
    sock.on('error', () => {})
    say(`220 ${this.name}.relay-wasm.test ESMTP`)
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n')
          if (end < 0) return
          const body = buf.subarray(0, end + 2)
          buf = buf.subarray(end + 5)
          inData = false
          // undo dot-stuffing
          const data = Buffer.from(body.toString('latin1').replace(/(^|\r\n)\.\./g, '$1.'), 'latin1')
          this.messages.push({ ...env, data })
          env = { mailFrom: null, rcptTo: [] }
          say('250 kept')
          for (const w of this.waiters.splice(0)) w()
          continue
        }
        const i = buf.indexOf('\r\n')
        if (i < 0) return
        const line = buf.subarray(0, i).toString('utf8')
        buf = buf.subarray(i + 2)
        const verb = line.slice(0, 4).toUpperCase()
        const path = () => {
          const m = /^[A-Za-z ]+:\s*<(.*)>(?:\s.*)?$/.exec(line)
          return m ? m[1] : line.replace(/^[^:]*:\s*/, '')
        }
        if (verb === 'EHLO') say(`250-${this.name}.relay-wasm.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING`)
        else if (verb === 'HELO') say('250 hello')
        else if (verb === 'MAIL') (env.mailFrom = path()), say('250 ok')
        else if (verb === 'RCPT') env.rcptTo.push(path()), say('250 ok')
        else if (verb === 'DATA') (inData = true), say('354 go on')
        else if (verb === 'RSET') (env = { mailFrom: null, rcptTo: [] }), say('250 ok')
        else if (verb === 'QUIT') say('221 bye'), sock.end()
        else say('250 ok')
      }
    })
  }

  get hostport() {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`
  }

  waitFor(pred, timeout) {
    return Sink.prototype.waitFor.call(this, pred, timeout)
  }

  stop() {
    for (const s of this.sockets || []) s.destroy()
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}

// ---------------------------------------------------------------------------
// Helpers

// One plain transaction from `localAddress`: EHLO, MAIL, each RCPT, DATA if a
// recipient was accepted. Resolves to { codes, texts, data } (data: the code
// after the final dot, or null).
async function transaction(port, localAddress, rcpts, { from = 'sender@client.example', message, host } = {}) {
  const c = await Smtp.open({ port, host, localAddress })
  try {
    assert.equal((await c.ehlo()).code, 250)
    assert.equal((await c.send(`MAIL FROM:<${from}>`)).code, 250)
    const codes = []
    const texts = []
    for (const r of rcpts) {
      const reply = await c.send(`RCPT TO:<${r}>`)
      codes.push(reply.code)
      texts.push(reply.text)
    }
    let data = null
    if (codes.includes(250)) data = (await c.data(message || 'Subject: relay-wasm test\r\n\r\nhello\r\n')).code
    return { codes, texts, data }
  } finally {
    await c.quit()
  }
}

// In cluster mode (nodes > 0): the sessions on `port` were served by at
// least two worker processes of this Haraka. Without cluster: by its one
// process.
function assertWorkersServed(haraka, port, nodes) {
  const pids = [...(Smtp.workers.get(port) || [])]
  if (!nodes) {
    assert.deepEqual(pids, [haraka.pid])
    return
  }
  const workers = haraka.workerPids()
  assert.ok(pids.length >= 2, `sessions on ${port} were served by ${pids.length} worker(s) of ${nodes}`)
  for (const pid of pids) assert.ok(workers.includes(pid), `pid ${pid} is not a worker of this Haraka (${workers})`)
}

module.exports = {
  assertWorkersServed,
  REPO,
  HARAKA_DIR,
  TLS_NAME,
  Haraka,
  RawSink,
  Sink,
  Smtp,
  canListen,
  freePort,
  hasIPv6Loopback,
  makeTlsFiles,
  randomLoopback,
  sleep,
  transaction,
}
