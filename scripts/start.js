#!/usr/bin/env node
'use strict'
// npm start: a demo relay that shows relay-wasm deciding at once.
//
// Builds a Haraka instance in ./.haraka-run (RELAY_WASM_DEMO_DIR overrides)
// with the demo's own relay files in its config/ (written fresh at each
// start; the shipped ./config stays as it is, empty and closed), a
// throwaway TLS key and certificate (openssl), a demo AUTH user with a
// random password (auth/flat_file), and runs Haraka in the foreground with
// relay-wasm loaded from this repo.
//
// Mail never leaves this host. This process runs two SMTP sinks on
// 127.0.0.1 and prints every message they receive:
//  - the nexthop sink: the nexthop of partner.test in relay_dest_domains.ini
//    (force_routing=true);
//  - the MX stand-in: a demo get_mx plugin after relay-wasm answers every
//    domain relay-wasm leaves to the MX lookup with this sink, so no DNS
//    query is made and nothing is sent to a real MX.
//
// The relay files are in Haraka's own config/ directory, which Haraka
// watches: an edit of them is read again while the demo runs.
//
//   RELAY_WASM_LISTEN=127.0.0.1:2526 npm start    (default 127.0.0.1:2525)
//
// Ctrl-C stops Haraka and the sinks.

const { spawn, spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')

const { safeLine } = require('../js/safe-text')

const REPO = path.resolve(__dirname, '..')
const RUN = path.resolve(process.env.RELAY_WASM_DEMO_DIR || path.join(REPO, '.haraka-run'))
const CFG = path.join(RUN, 'config')
const POLICY = path.join(RUN, 'relay-policy.txt')
const CLI = path.join(REPO, 'js', 'cli.js')
const LISTEN = process.env.RELAY_WASM_LISTEN || '127.0.0.1:2525'
const USER = 'demo'

const say = (line) => process.stdout.write(`${safeLine(line)}\n`)

function fail(message) {
  process.stderr.write(`relay-wasm demo: ${message}\n`)
  process.exit(1)
}

function need(id) {
  try {
    return require.resolve(id)
  } catch {
    return fail(`${id} is not installed: run \`npm install\` in ${REPO} first (the demo uses the devDependencies Haraka and smtp-server)`)
  }
}

const HARAKA_DIR = path.dirname(need('Haraka/package.json'))
const { SMTPServer } = require(need('smtp-server'))

// host and port a client on this machine connects to, from LISTEN
// (host:port or [v6]:port; the first of a comma-separated list)
function clientAddress(listen) {
  const first = listen.split(',')[0].trim()
  const at = first.lastIndexOf(':')
  const port = Number(first.slice(at + 1))
  if (at < 0 || !Number.isInteger(port) || port < 1 || port > 65535) fail(`RELAY_WASM_LISTEN: '${listen}' is not host:port`)
  let host = first.slice(0, at).replace(/^\[|\]$/g, '')
  if (host === '' || host === '0.0.0.0' || host === '::') host = '127.0.0.1'
  return { host, port }
}

// A throwaway key, certificate and DH parameters (the RFC 7919 group
// ffdhe2048: Haraka would otherwise generate parameters at length).
function makeTls() {
  const openssl = (args) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] })
    if (r.error?.code === 'ENOENT') {
      fail('openssl is not installed; the demo needs it to make a throwaway TLS key and certificate.\n' +
        '  On Debian or Ubuntu: apt-get install openssl')
    }
    if (r.error || r.status !== 0) fail(`openssl ${args[0]} failed: ${(r.error?.message || r.stderr || '').trim()}`)
  }
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
    '-keyout', path.join(CFG, 'tls_key.pem'), '-out', path.join(CFG, 'tls_cert.pem'),
    '-subj', '/CN=relay-wasm.demo', '-addext', 'subjectAltName=DNS:relay-wasm.demo,DNS:localhost,IP:127.0.0.1'])
  openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', path.join(CFG, 'dhparams.pem')])
}

// One SMTP sink on 127.0.0.1 (a free port): prints each message it is given.
function startSink(label) {
  return new Promise((resolve, reject) => {
    let port
    const server = new SMTPServer({
      name: 'sink.relay-wasm.demo',
      banner: `relay-wasm demo ${label}`,
      disabledCommands: ['AUTH', 'STARTTLS'],
      authOptional: true,
      logger: false,
      onData(stream, session, done) {
        const chunks = []
        stream.on('data', (c) => chunks.push(c))
        stream.on('end', () => {
          const message = Buffer.concat(chunks)
          const head = message.toString('utf8').split(/\r?\n\r?\n/)[0]
          const subject = /^Subject:[ \t]*(.*)$/im.exec(head)?.[1] ?? '(none)'
          const rcpts = session.envelope.rcptTo.map((r) => `<${r.address}>`).join(' ')
          say(`relay-wasm demo: ${label} 127.0.0.1:${port} received MAIL FROM:<${session.envelope.mailFrom?.address ?? ''}> ` +
            `RCPT TO:${rcpts} (${message.length} bytes, Subject: ${subject})`)
          done(null, `delivered to the relay-wasm demo ${label}`)
        })
      },
    })
    server.on('error', (err) => say(`relay-wasm demo: ${label}: ${err.message}`))
    server.server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      port = server.server.address().port
      resolve({ server, port })
    })
  })
}

function writeInstance({ nexthopPort, mxPort, password }) {
  fs.mkdirSync(CFG, { recursive: true })
  fs.mkdirSync(path.join(RUN, 'plugins'), { recursive: true })
  fs.mkdirSync(path.join(RUN, 'node_modules'), { recursive: true })
  // mail queued by an earlier run would go to that run's sinks
  fs.rmSync(path.join(RUN, 'queue'), { recursive: true, force: true })

  const link = path.join(RUN, 'node_modules', 'haraka-plugin-relay-wasm')
  fs.rmSync(link, { force: true, recursive: true })
  fs.symlinkSync(REPO, link, 'dir')

  fs.copyFileSync(path.join(HARAKA_DIR, 'config', 'connection.ini'), path.join(CFG, 'connection.ini'))
  const files = {
    'smtp.ini': `; written by scripts/start.js\n[main]\nlisten=${LISTEN}\nnodes=0\n`,
    plugins: '# written by scripts/start.js\ntls\nauth/flat_file\nrelay-wasm\ndemo_mx\n',
    'log.ini': '[main]\nlevel=info\nformat=default\n',
    me: 'relay-wasm.demo\n',
    'tls.ini': '; written by scripts/start.js: a throwaway key and certificate, made at each start\n' +
      '[main]\nkey=tls_key.pem\ncert=tls_cert.pem\ndhparam=dhparams.pem\n',
    'auth_flat_file.ini': '; written by scripts/start.js: the demo user, a new password at each start\n' +
      `[core]\nmethods=PLAIN,LOGIN\n\n[users]\n${USER}=${password}\n`,

    'relay.ini': `; relay.ini of the relay-wasm demo, written by scripts/start.js at each start.
; The shipped config/relay.ini of the package has only acl on, and an empty ACL.
[relay]
; clients listed in relay_acl_allow relay to any domain
acl=true
; any client may send to the domains of relay_dest_domains.ini with action accept
dest_domains=true
; mail for a domain with a nexthop in relay_dest_domains.ini goes there, not to its MX
force_routing=true
; never an open relay
all=false
`,
    relay_acl_allow: `# relay_acl_allow of the relay-wasm demo, written by scripts/start.js at each start.
# Only 127.0.0.1 relays by its address. A client that connects from
# 127.0.0.2 (also this host) is not listed: it may send only to the domains
# of relay_dest_domains.ini, or to any domain after AUTH.
#
# Try a reload: add the line 127.0.0.2 below and save. relay-wasm reads the
# file again within a few seconds and logs "relay_acl_allow in force";
# 127.0.0.2 then relays to any domain.
127.0.0.1
`,
    'relay_dest_domains.ini': `; relay_dest_domains.ini of the relay-wasm demo, written by scripts/start.js
; at each start (the sink ports change with each start).
[domains]
; any client may send to example.com; it goes by MX, and the demo's MX
; stand-in (a sink at 127.0.0.1:${mxPort}) answers every MX lookup
example.com = { "action": "accept" }
; any client may send to partner.test, and it is routed to its nexthop,
; the demo's nexthop sink
partner.test = { "action": "accept", "nexthop": "smtp://127.0.0.1:${nexthopPort}" }
`,
  }
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(CFG, name), text)
  fs.chmodSync(path.join(CFG, 'auth_flat_file.ini'), 0o600)
  fs.writeFileSync(POLICY, policyText(nexthopPort))

  // stands in for DNS: every domain relay-wasm leaves to the MX lookup
  // (no nexthop for it) goes to the MX stand-in sink, never off this host
  fs.writeFileSync(
    path.join(RUN, 'plugins', 'demo_mx.js'),
    `'use strict'
// written by scripts/start.js: the demo's stand-in for DNS MX lookups.
// relay-wasm answers first (force_routing); the domains it leaves to the MX
// lookup come here and go to the demo's MX stand-in sink.
exports.hook_get_mx = function (next, hmail, domain) {
  this.loginfo('demo: no nexthop for ' + domain + ', so by MX: the demo answers the lookup with its sink 127.0.0.1:${mxPort}')
  next(OK, '127.0.0.1:${mxPort}')
}
`,
  )
}

// The demo's relay policy: what its config must answer, as an admin would
// keep it in CI (relay-check --expect, README "Relay policy tests").  It is
// checked at each start, and again by hand after an edit.
function policyText(nexthopPort) {
  return `# The relay policy of the relay-wasm demo, written by scripts/start.js at each start.
# Checked at start, and after an edit of the config with the command the demo prints.
# One expectation a line:  CLIENT [auth] -> RECIPIENT: ANSWER

# strangers cannot relay
127.0.0.2 -> someone@far.test: refuse 550
203.0.113.5 -> someone@far.test: refuse 550

# the listed domains take mail from anyone, by their routes
127.0.0.2 -> a@example.com: accept by mx
127.0.0.2 -> b@partner.test: accept via smtp://127.0.0.1:${nexthopPort}

# this host relays anywhere by its address, and any client after AUTH
127.0.0.1 -> someone@far.test: accept by mx
127.0.0.2 auth -> someone@far.test: accept by mx
`
}

// relay-check --expect on the demo's config: its summary lines, and whether all held
function checkPolicy() {
  const r = spawnSync(process.execPath, [CLI, CFG, '--expect', POLICY], { encoding: 'utf8' })
  return { ok: r.status === 0, lines: `${r.stdout}${r.stderr}`.split('\n').filter(Boolean) }
}

function banner({ host, port, password, nexthopPort, mxPort }) {
  const rel = path.relative(process.cwd(), CFG) || '.'
  const shown = rel.startsWith('..') ? CFG : rel
  const smtp = (src) => `s=smtplib.SMTP('${host}',${port}${src ? `,source_address=('${src}',0)` : ''})`
  const send = (rcpts, subject) => `print(s.sendmail('you@demo.test',${JSON.stringify(rcpts).replace(/"/g, "'")},'Subject: ${subject}\\n\\nhello'))`
  const plain = Buffer.from(`\0${USER}\0${password}`).toString('base64')
  return [
    `relay-wasm demo ready: Haraka on ${host}:${port} with relay-wasm, STARTTLS (throwaway certificate) and AUTH PLAIN/LOGIN as user ${USER}, password ${password}`,
    `  relay config (written at each start): ${path.join(shown, 'relay.ini')} (acl, dest_domains, force_routing on), relay_acl_allow (127.0.0.1), relay_dest_domains.ini (example.com accept; partner.test accept, nexthop 127.0.0.1:${nexthopPort})`,
    `  mail never leaves this host: the nexthop sink (127.0.0.1:${nexthopPort}) and the MX stand-in sink (127.0.0.1:${mxPort}) print every message they get`,
    '  try:',
    `    # from 127.0.0.1, listed in relay_acl_allow: any domain relays (prints {})`,
    `    python3 -c "import smtplib; ${smtp()}; ${send(['someone@far.test'], 'relayed by address')}"`,
    `    # from 127.0.0.2, not listed: example.com and partner.test are accepted, far.test is refused with 550`,
    `    python3 -c "import smtplib; ${smtp('127.0.0.2')}; ${send(['a@example.com', 'b@partner.test', 'someone@far.test'], 'dest domains')}"`,
    `    # from 127.0.0.2 after STARTTLS and AUTH: any domain relays`,
    `    python3 -c "import smtplib; ${smtp('127.0.0.2')}; s.starttls(); s.login('${USER}','${password}'); ${send(['someone@far.test'], 'relayed after AUTH')}"`,
    `    # by hand from 127.0.0.2 (OpenSSL 3): EHLO x, MAIL FROM:<you@demo.test>, RCPT TO:<someone@far.test> (550), RSET,`,
    `    # AUTH PLAIN ${plain} (235), MAIL FROM:<you@demo.test>, RCPT TO:<someone@far.test> (250), DATA, Subject: hi, ., QUIT`,
    `    openssl s_client -starttls smtp -connect ${host}:${port} -bind 127.0.0.2:0 -crlf -quiet`,
    `    # what relay-check says of this config`,
    `    node ${path.relative(process.cwd(), path.join(REPO, 'js', 'cli.js')) || 'js/cli.js'} ${shown} --ip 127.0.0.2 --rcpt a@example.com --rcpt someone@far.test`,
    `    # the demo's relay policy (checked at start): run it again after an edit`,
    `    node ${path.relative(process.cwd(), CLI) || 'js/cli.js'} ${shown} --expect ${path.join(path.dirname(shown), 'relay-policy.txt')}`,
    `  to see a reload, edit ${path.join(shown, 'relay_acl_allow')} (add 127.0.0.2) or ${path.join(shown, 'relay_dest_domains.ini')}: relay-wasm reads it again within a few seconds and logs "<file> in force"`,
    '  Ctrl-C stops Haraka and the sinks.',
  ]
}

async function main() {
  const { host, port } = clientAddress(LISTEN)
  fs.mkdirSync(CFG, { recursive: true })
  makeTls()
  const nexthop = await startSink('nexthop sink')
  const mx = await startSink('MX stand-in sink')
  const password = crypto.randomBytes(12).toString('base64url')
  writeInstance({ nexthopPort: nexthop.port, mxPort: mx.port, password })
  const policy = checkPolicy()
  for (const line of policy.lines) say(`relay-wasm demo: relay policy: ${line}`)
  if (!policy.ok) fail(`the demo's config does not hold its relay policy ${POLICY}`)

  const haraka = spawn(process.execPath, [path.join(HARAKA_DIR, 'bin', 'haraka'), '-c', RUN], {
    cwd: RUN,
    stdio: ['ignore', 'pipe', 'pipe'],
  })

  // Haraka's output goes on as it is; once it listens and its start-up
  // lines have stopped coming, the banner says what to try
  let ready = false
  let quiet = null // 400 ms without a line after "Listening on"
  let cap = null // or 3 s after it, whichever comes first
  const showBanner = () => {
    if (ready) return
    ready = true
    for (const line of banner({ host, port, password, nexthopPort: nexthop.port, mxPort: mx.port })) say(line)
  }
  readline.createInterface({ input: haraka.stdout }).on('line', (line) => {
    process.stdout.write(`${line}\n`)
    if (ready) return
    if (quiet || /\[server\] Listening on /.test(line)) {
      clearTimeout(quiet)
      quiet = setTimeout(showBanner, 400)
      cap ??= setTimeout(showBanner, 3000)
    }
  })
  readline.createInterface({ input: haraka.stderr }).on('line', (line) => process.stderr.write(`${line}\n`))

  let stopping = false
  const stop = (sig) => {
    if (stopping) return
    stopping = true
    haraka.kill(sig)
    setTimeout(() => haraka.kill('SIGKILL'), 10000).unref()
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stop(sig))

  haraka.on('close', (code, signal) => {
    clearTimeout(quiet)
    clearTimeout(cap)
    if (!ready && !stopping) say(`relay-wasm demo: Haraka exited before it was ready (is ${LISTEN} in use?)`)
    for (const s of [nexthop, mx]) s.server.close()
    say('relay-wasm demo: stopped')
    process.exit(code ?? (signal ? 128 + (require('node:os').constants.signals[signal] ?? 0) : 1))
  })
}

main().catch((err) => fail(err.stack || String(err)))
