'use strict'
// Issue 10: safe to print.  relay-check runs in CI on config that anyone
// may have written, and its output, the plugin's log and the validator page
// are read by people, terminals and the GitHub Actions runner (which acts
// on `::command` at the start of a line and on `##[command]` anywhere in
// one).  Hostile config text, file and directory names and command-line
// values go through every output: relay-check in each format (text, json,
// github, stdout and stderr), the plugin's log in a real Haraka, and the
// page in chromium.  No output line may hold a runner command, a raw
// control character (C0, DEL, C1), a bidi control, U+2028/U+2029, or a
// password of a route; the plugin must still hand outbound the real route.
//
//   node --test test/hostile-output.test.js
//
// The checks here are written for this file (not js/safe-text.js), so that
// they judge the code rather than repeat it.

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const { Haraka, Smtp, freePort, sleep } = require('./lib/haraka')
const { openValidator, ask } = require('./support/browser')

const REPO = path.resolve(__dirname, '..')
const CLI = path.join(REPO, 'js', 'cli.js')
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-hostile-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const PASSWORDS = ['hunter2', 's3cr3tpw', 'pa55word']

/* ---- what no printed line may hold ---------------------------------- */

// one character of every class that must never be printed raw
const CONTROLS = {
  C0: ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\u000b', '\f', '\r', '\u001b', '\u001f'],
  DEL: ['\u007f'],
  C1: ['\u0080', '\u0085', '\u008d', '\u009b', '\u009d', '\u009f'],
  bidi: ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'],
  separators: ['\u2028', '\u2029'],
}
const ALL_CONTROLS = Object.values(CONTROLS).flat()
const RAW = new RegExp(`[${ALL_CONTROLS.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}\\u0000-\\u001f\\u007f-\\u009f]`)
const u = (c) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`

// The problems of one piece of output, split into lines at LF (a raw CR is
// a problem of its own).  annotations: lines of --format github may be the
// tool's own annotations, `::error|warning|notice file=...::data`, whose
// properties hold no `::`.
function problems(text, { annotations = false, passwords = PASSWORDS } = {}) {
  const found = []
  String(text)
    .split('\n')
    .forEach((line, i) => {
      const at = `line ${i + 1} ${JSON.stringify(line.slice(0, 160))}`
      const raw = RAW.exec(line)
      if (raw) found.push(`${at}: raw ${u(raw[0])}`)
      if (line.includes('##[')) found.push(`${at}: ##[ runner command`)
      // the runner trims blanks (.NET char.IsWhiteSpace) before looking for ::
      if (/^[\s\u0085]*::/.test(line) && !(annotations && /^::(error|warning|notice) file=[^:]*::/.test(line))) {
        found.push(`${at}: :: workflow command`)
      }
      for (const p of passwords) if (line.includes(p)) found.push(`${at}: password ${p}`)
    })
  return found
}

function assertClean(text, what, opts) {
  const p = problems(text, opts)
  assert.deepEqual(p, [], `${what}:\n${p.slice(0, 12).join('\n')}`)
}

/* ---- relay-check ---------------------------------------------------- */

let dirCount = 0
function configDir(files, name = `c${++dirCount}`) {
  const dir = path.join(tmpRoot, name)
  fs.mkdirSync(dir, { recursive: true })
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text)
  return dir
}

function relayCheck(args, { cwd = tmpRoot } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, GITHUB_WORKSPACE: '' } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

// relay-check in every format, with and without the question; each output
// (stdout and stderr) must be clean.  Returns the runs by format.
function everyFormat(dir, question = [], { status = [0, 1] } = {}) {
  const runs = {}
  for (const format of ['text', 'json', 'github']) {
    for (const args of question.length ? [[], question] : [[]]) {
      const r = relayCheck([dir, '--format', format, ...args])
      const label = `relay-check --format ${format}${args.length ? ' with a question' : ''}`
      assert.ok(status.includes(r.status), `${label}: exit ${r.status}\n${r.stderr}`)
      assertClean(r.stdout, `${label}: stdout`, { annotations: format === 'github' })
      assertClean(r.stderr, `${label}: stderr`)
      if (format === 'json' && r.status !== 2) {
        const doc = JSON.parse(r.stdout) // still valid JSON
        for (const p of PASSWORDS) assert.ok(!JSON.stringify(doc).includes(p), `${label}: ${p} in a JSON value`)
      }
      runs[format + (args.length ? '+q' : '')] = r
    }
  }
  return runs
}

// A JSON value in a relay_dest_domains.ini line, with `\n` and `\u001b`
// written as JSON escapes (cJSON turns them into the characters).
const jsonText = (v) => JSON.stringify(v)
const esc = (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

// issue 10, finding 1: routes whose user name, password, host or port
// carry a runner command, a terminal escape or a bidi control
const INJECTED_ROUTES = [
  'smtp://a\\n::error title=injected::PWNED\\n@relay.example.net:25', // the issue's case, \n as a JSON escape
  'smtp://a\\n::add-mask::x\\n@relay.example.net:25',
  'smtp://a\\n::stop-commands::abc\\n@relay.example.net:25',
  'smtp://a:\\u001b]0;owned\\u0007\\u001b[2J@relay.example.net:25', // ESC sequences
  'smtp://a:b@relay\\u001b[31m.example.net:25',
  'smtp://a:b@relay.example.net:2\\u009b5',
  'smtp://a\\u202e:b@relay.example.net:25',
  'smtp://a:b c@relay.example.net:25',
  'smtp://a:b@relay.example.net\\u2028:25',
  'lmtp://a:b@[::1\\n]:24',
  'smtp://##[add-mask]x:y@relay.example.net',
  'smtp://u:v@r\u00e9lay.example.net', // raw non-ASCII in the host
  'smtp://\u00fcser:v@relay.example.net', // raw non-ASCII in the user name
  'relay.example.net:25\\n::error::bare',
  'relay.example.net\\u0085',
]

const ON = '[relay]\nacl=true\nforce_routing=true\ndest_domains=true\n'

describe('relay-check prints nothing hostile', () => {
  it('issue 1: a route carrying a runner command or an escape is refused on its line, and never printed raw', () => {
    const lines = ['[domains]', ...INJECTED_ROUTES.map((r, i) => `d${i}.example.com = { "action": "accept", "nexthop": "${r}" }`)]
    const dir = configDir({ 'relay.ini': ON, 'relay_dest_domains.ini': `${lines.join('\n')}\n` })
    const rcpts = INJECTED_ROUTES.flatMap((r, i) => ['--rcpt', `u@d${i}.example.com`])
    const runs = everyFormat(dir, ['--ip', '192.0.2.9', ...rcpts])
    // each hostile route is refused, with a diagnostic on its line
    const doc = JSON.parse(runs.json.stdout)
    const refused = doc.diagnostics.filter((d) => d.code === 'dest-bad-nexthop').map((d) => d.line)
    assert.deepEqual(refused, INJECTED_ROUTES.map((r, i) => i + 2))
    assert.equal(runs.json.status, 1)
    // not a line of its own in any format
    for (const r of Object.values(runs)) assert.doesNotMatch(r.stdout, /^\s*::(error title=injected|add-mask|stop-commands)/m)
  })

  it('issue 2: passwords are masked in routes, explanations, JSON and quoted broken JSON', () => {
    const dir = configDir({
      'relay.ini': `${ON}all = smtp://ab:pa55word@h\n`,
      relay_acl_allow: '192.0.2.0/24\nsmtp://ab:pa55word@h\n',
      'relay_dest_domains.ini': [
        '[domains]',
        'b.com = {"nexthop":"smtp://ab:hunter2@h}', // the issue's broken value
        'c.com = {"nexthop":"smtp://ab:hunter2@h", }',
        'd.com = {"nexthop":"smtp://ab:hunter2@h"',
        'e.com = {"action":"accept","nexthop":"smtp://ab:hunter2@h/x"}',
        'f.com = {"action":"accept","nexthop":"smtp://ab:hunter2@h", "smtp://ab:hunter2@h": 1}',
        'g.com = {"nexthop":"smtp://ab:hunter2@h"}}',
        'secret.example = {"action":"accept","nexthop":"smtp://user:hunter2@relay.example.net:587"}',
        'list.example = {"action":"accept","nexthop":["lmtp://lu:s3cr3tpw@relay.example.net:24","smtp://x:hunter2@relay2.example.net"]}',
        'any = {"nexthop":"smtp://anyuser:hunter2@smarthost.example:587"}',
        '',
      ].join('\n'),
    })
    const runs = everyFormat(dir, ['--ip', '203.0.113.5', '--rcpt', 'u@secret.example', '--rcpt', 'u@list.example', '--rcpt', 'smtp://ab:hunter2@h'])
    const byAny = everyFormat(dir, ['--ip', '192.0.2.7', '--rcpt', 'u@elsewhere.example'])
    // the routes are shown, masked
    const text = runs['text+q'].stdout
    assert.match(text, /route: nexthop smtp:\/\/user:\*\*\*@relay\.example\.net:587 \(entry secret\.example/)
    assert.match(text, /route: nexthop lmtp:\/\/lu:\*\*\*@relay\.example\.net:24, smtp:\/\/x:\*\*\*@relay2\.example\.net/)
    assert.match(byAny['text+q'].stdout, /route: nexthop smtp:\/\/anyuser:\*\*\*@smarthost\.example:587 \(entry any/)
    const doc = JSON.parse(runs['json+q'].stdout)
    assert.deepEqual(
      doc.decision.recipients.map((r) => r.route?.nexthop ?? null),
      ['smtp://user:***@relay.example.net:587', ['lmtp://lu:***@relay.example.net:24', 'smtp://x:***@relay2.example.net'], null],
    )
    assert.equal(JSON.parse(byAny['json+q'].stdout).decision.recipients[0].route.nexthop, 'smtp://anyuser:***@smarthost.example:587')
    // the broken values are still reported, on their lines
    assert.deepEqual(
      doc.diagnostics.filter((d) => d.code === 'dest-bad-json').map((d) => d.line),
      [2, 3, 4, 7],
    )
  })

  it('issue 3: ##[ from relay.ini values and JSON keys is broken in every format', () => {
    const dir = configDir({
      'relay.ini': '[relay]\ndest_domains=true\nall = ##[add-mask]x\nacl = ###[warning]y\n',
      'relay_dest_domains.ini': '[domains]\na.example = {"action":"accept","##[stop-commands]abc":1,"x##[group]y":2,"###[endgroup]":3}\n',
    })
    const runs = everyFormat(dir, ['--ip', '192.0.2.1', '--rcpt', '##[stop-commands]x@a.example', '--rcpt', 'b##[x]@a.example'])
    // the values are still there to read, once parsed
    const doc = JSON.parse(runs.json.stdout)
    assert.ok(doc.diagnostics.some((d) => d.message.includes("'##[stop-commands]abc'")), JSON.stringify(doc.diagnostics))
    assert.ok(doc.diagnostics.some((d) => d.message.includes('##[add-mask]x')))
    assert.match(runs.json.stdout, /\\u0023#\[stop-commands\]abc/)
  })

  it('issue 4: every control class from config text is shown escaped', () => {
    // JSON keys: cJSON decodes the escapes into the characters themselves
    const keys = ALL_CONTROLS.filter((c) => c !== '\u0000').map((c, i) => `"k${i}${esc(c)}x"`)
    const rawKeys = ALL_CONTROLS.filter((c) => c > '\u009f').map((c, i) => `"r${i}${c}x"`) // raw in the file
    const dir = configDir({
      'relay.ini': `[relay]\ndest_domains=true\nacl = \u202etrue\u202c\nall = \u2066on\u2069\nforce_routing = \u0085yes\ncolour = \u009b31m\n`,
      relay_acl_allow: '192.0.2.0/24\n10.0.0.1\u202e/8\n\u009b1.2.3.4\n1.2.3.4\u001b[2J\n',
      'relay_dest_domains.ini': `[domains]\na.example = {"action":"accept",${keys.map((k) => `${k}:1`).join(',')}}\nb.example = {"action":"accept",${rawKeys.map((k) => `${k}:1`).join(',')}}\n`,
    })
    const runs = everyFormat(dir, ['--ip', '192.0.2.1', '--rcpt', 'a@a.example'])
    // the characters are there, escaped, in text; exact in JSON once parsed
    assert.match(runs.text.stdout, /\\u202e/)
    assert.match(runs.text.stdout, /\\u009b/)
    const doc = JSON.parse(runs.json.stdout)
    const said = doc.diagnostics.map((d) => d.message).join('\n')
    for (const c of CONTROLS.bidi.concat(CONTROLS.C1.slice(1), CONTROLS.separators)) assert.ok(said.includes(c), `${u(c)} is lost in JSON`)
  })

  it('issue 4: file and directory names and command-line values are escaped too', () => {
    const names = [
      'd\n::error title=dir::PWNED',
      '##[add-mask]d',
      `e${ALL_CONTROLS.filter((c) => c !== '\u0000' && c !== '/').join('')}f`,
      '::warning::x',
    ]
    for (const name of names) {
      const dir = configDir({ relay_acl_allow: '300.1.1.1\n', 'relay.ini': 'all = on\n' }, name)
      everyFormat(dir, ['--ip', '192.0.2.1', '--rcpt', 'u@example.com'])
      // relative to the working directory, as CI runs it
      for (const format of ['text', 'github', 'json']) {
        const r = relayCheck([name, '--format', format], { cwd: tmpRoot })
        assertClean(r.stdout, `relative ${JSON.stringify(name)} ${format}`, { annotations: format === 'github' })
        assertClean(r.stderr, `relative ${JSON.stringify(name)} ${format}: stderr`)
      }
      // a missing one: the error on stderr
      const r = relayCheck([path.join(tmpRoot, `${name}-missing`)])
      assert.equal(r.status, 2)
      assertClean(r.stderr, `missing ${JSON.stringify(name)}`)
    }
    // hostile values on the command line
    const dir = configDir({ 'relay.ini': ON, 'relay_dest_domains.ini': '[domains]\nexample.com = {"action":"accept"}\n' })
    const hostile = ['::error title=arg::PWNED', '\n::error::x', '##[add-mask]x', `1.2.3.4${ALL_CONTROLS.join('').replace('\u0000', '')}`, 'smtp://u:hunter2@h']
    for (const value of hostile) {
      for (const args of [['--ip', value], ['--ip', '192.0.2.1', '--rcpt', value], ['--ip', '192.0.2.1', '--rcpt', `${value}@example.com`], ['--ip', '192.0.2.1', '--rcpt', `"${value}"@example.com`], ['--format', value], [`--${value}`]]) {
        for (const format of ['text', 'json', 'github']) {
          const r = relayCheck([dir, ...args, ...(args[0] === '--format' ? [] : ['--format', format])])
          assertClean(r.stdout, `${JSON.stringify(args)} ${format}`, { annotations: format === 'github' })
          assertClean(r.stderr, `${JSON.stringify(args)} ${format}: stderr`)
        }
      }
    }
  })

  it('does not follow a symbolic link out of the config directory unless asked', () => {
    // say, the production config of a self-hosted runner
    const outside = path.join(tmpRoot, 'outside-secret')
    fs.writeFileSync(outside, '[relay]\nall = smtp://ab:hunter2@h\n')
    const dir = configDir({ 'acl.real': '192.0.2.0/24\n' })
    fs.symlinkSync(outside, path.join(dir, 'relay.ini'))
    let r = relayCheck([dir])
    assert.equal(r.status, 2, r.stdout)
    assert.match(r.stderr, /^relay-check: .*relay\.ini: a symbolic link to .*outside-secret, outside .*: not followed \(--follow-symlinks reads it\)$/m)
    assert.equal(r.stdout, '')
    // asked: it is read (and still nothing secret is printed)
    r = relayCheck([dir, '--follow-symlinks'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /relay\.ini:2:1: warning: 'all = smtp:\/\/ab:\*\*\*@h' is not a truth word/)
    assertClean(r.stdout + r.stderr, '--follow-symlinks')
    // a link that stays inside the directory is read
    fs.unlinkSync(path.join(dir, 'relay.ini'))
    fs.symlinkSync('acl.real', path.join(dir, 'relay_acl_allow'))
    r = relayCheck([dir, '--ip', '192.0.2.5'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /relay_acl_allow line 1 lists 192\.0\.2\.5/)
    // a link through a linked directory out of it
    const sub = path.join(tmpRoot, 'elsewhere')
    fs.mkdirSync(sub)
    fs.writeFileSync(path.join(sub, 'x'), '[relay]\n')
    fs.symlinkSync(sub, path.join(dir, 'sub'))
    fs.symlinkSync('sub/x', path.join(dir, 'relay.ini.link'))
    fs.renameSync(path.join(dir, 'relay.ini.link'), path.join(dir, 'relay.ini'))
    r = relayCheck([dir])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /relay\.ini: a symbolic link to .*elsewhere\/x, outside/)
  })
})

/* ---- the plugin's log, in a real Haraka ----------------------------- */

describe("the plugin's log in a real Haraka", { timeout: 60000 }, () => {
  let haraka
  let port
  let authSink
  const auths = []

  before(async () => {
    // an SMTP server that takes AUTH PLAIN in clear: the route's password
    // must reach it (outbound is handed the real route)
    const { SMTPServer } = require('smtp-server')
    const sinkPort = await freePort()
    authSink = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, session, cb) {
        auths.push({ user: auth.username, pass: auth.password })
        cb(null, { user: auth.username })
      },
      onData(stream, session, cb) {
        stream.resume()
        stream.on('end', () => cb(null, 'kept'))
      },
    })
    authSink.on('error', () => {})
    await new Promise((resolve) => authSink.listen(sinkPort, '127.0.0.1', resolve))
    port = await freePort()
    const domains = [
      '[domains]',
      ...INJECTED_ROUTES.map((r, i) => `d${i}.example.com = { "action": "accept", "nexthop": "${r}" }`),
      'b.com = {"nexthop":"smtp://ab:hunter2@h}',
      `secret.example = {"action":"accept","nexthop":"smtp://user:hunter2@127.0.0.1:${sinkPort}"}`,
      // refused with a message that quotes the host outbound would use
      'quoted.example = {"action":"accept","nexthop":"smtp://relay\\u009b\\u202e[x].example.net/x"}',
      `a.example = {"action":"accept",${ALL_CONTROLS.filter((c) => c !== '\u0000').map((c, i) => `"k${i}${esc(c)}x":1`).join(',')},"##[stop-commands]abc":1}`,
      '',
    ].join('\n')
    haraka = new Haraka({
      name: 'hostile',
      listen: [`127.0.0.1:${port}`],
      plugins: ['relay-wasm'], // relayed mail goes to outbound, which asks get_mx
      logLevel: 'debug',
      files: {
        'relay.ini': `${ON}all = ##[add-mask]x\ncolour = \u202e\u2066x\n`,
        relay_acl_allow: '127.0.0.2\n10.0.0.1\u009b/8\n1.2.3.4\u001b[2J\n',
        'relay_dest_domains.ini': domains,
      },
    })
    await haraka.start()
  })

  after(async () => {
    await haraka?.stop()
    await new Promise((resolve) => (authSink ? authSink.close(resolve) : resolve()))
  })

  async function send(from, rcpts) {
    const c = await Smtp.open({ port, localAddress: from })
    try {
      await c.ehlo()
      assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
      const codes = []
      for (const r of rcpts) codes.push((await c.send(`RCPT TO:<${r}>`)).code)
      if (codes.includes(250)) await c.data('Subject: hostile\r\n\r\nhello\r\n')
      return codes
    } finally {
      await c.quit()
    }
  }

  async function waitOutput(re, what) {
    const deadline = Date.now() + 20000
    while (!re.test(haraka.output)) {
      assert.ok(Date.now() < deadline, `${what} not logged:\n${haraka.tail(3000)}`)
      await sleep(100)
    }
  }

  it('logs the diagnostics, routes and refusals with nothing raw, no runner command, no password', async () => {
    await waitOutput(/relay_dest_domains\.ini:\d+(?::\d+)?: error: .*\[dest-bad-json\]/, 'the diagnostics')
    // a routed message (logdebug of the route), a route that cannot be read
    // (logerror), an entry that cannot be read (connection logerror)
    assert.deepEqual(await send('127.0.0.2', ['u@secret.example', 'u@d0.example.com', 'u@quoted.example']), [250, 250, 250])
    assert.deepEqual(await send('127.0.0.3', ['u@b.com']), [550])
    await waitOutput(/\[relay-wasm\] using .* for secret\.example/, 'the route')
    await waitOutput(/\[relay-wasm\] invalid route for d0\.example\.com/, 'the invalid route')
    await waitOutput(/\[relay-wasm\] invalid route for quoted\.example/, 'the invalid route quoting a host')
    await waitOutput(/entry for b\.com is invalid/, 'the invalid entry')
    // outbound is handed the real route: the password reaches the server
    const deadline = Date.now() + 20000
    while (!auths.length && Date.now() < deadline) await sleep(100)
    assert.deepEqual(auths[0], { user: 'user', pass: 'hunter2' }, haraka.tail(3000))
    // the plugin's lines, and every line for the passwords
    const ours = haraka.output.split('\n').filter((l) => l.includes('[relay-wasm]'))
    assert.ok(ours.length > 20, ours.join('\n'))
    assertClean(ours.join('\n'), "the plugin's log")
    assert.match(haraka.output, /\[relay-wasm\] using \[?"smtp:\/\/user:\*\*\*@127\.0\.0\.1:\d+"\]? for secret\.example/)
  })

  // Haraka itself logs what get_mx answered: `hook=get_mx ... msg=<answer>`
  // at info, `MX from Plugin: ... JSON.stringify(route)` at debug and
  // `get_mx plugin returned DENYSOFT: <text>` at warn.  The DENYSOFT text
  // names a host only as the module shows it (no control or bidi byte); a
  // route with a password is handed on as an object whose auth_pass is not
  // enumerable (js/decide.js outboundHop), so neither log holds it.
  it("Haraka's own log of the get_mx answer holds no password and nothing raw", () => {
    const lines = haraka.output.split('\n').filter((l) => /hook=get_mx|MX from Plugin|get_mx plugin returned/.test(l))
    assert.ok(lines.length >= 3, haraka.tail(3000))
    assertClean(lines.join('\n'), "Haraka's log of get_mx")
    for (const p of PASSWORDS) assert.ok(!haraka.output.includes(p), `${p} in Haraka's output:\n${haraka.output.split('\n').filter((l) => l.includes(p)).join('\n')}`)
  })
})

/* ---- the validator page --------------------------------------------- */

describe('the validator page', () => {
  let v
  before(async () => {
    v = await openValidator()
  })
  after(async () => {
    await v?.close()
  })

  // the text the page shows, one text node a line (not the editors, which
  // hold what was typed), and every attribute of what it drew
  const shown = (page) =>
    page.evaluate(() => {
      const regions = [...document.querySelectorAll('#summary, #answer, .diags, .fstat, #notice, #command')]
      const texts = []
      const attrs = []
      for (const r of regions) {
        const walk = document.createTreeWalker(r, NodeFilter.SHOW_TEXT)
        while (walk.nextNode()) texts.push(walk.currentNode.data)
        for (const el of [r, ...r.querySelectorAll('*')]) for (const a of el.attributes) attrs.push(`${a.name}=${a.value}`)
      }
      return { text: texts.join('\n'), attrs: attrs.join('\n'), nexthops: [...document.querySelectorAll('[data-nexthop]')].map((e) => e.dataset.nexthop) }
    })

  it('shows hostile config and questions escaped, passwords masked', async () => {
    const keys = ALL_CONTROLS.filter((c) => c !== '\u0000').map((c, i) => `"k${i}${esc(c)}x":1`)
    await ask(v.page, {
      files: {
        'relay.ini': `${ON}all = ##[add-mask]x\ncolour = \u202e\u2066x\nacl = \u009byes\n`,
        relay_acl_allow: '192.0.2.0/24\n10.0.0.1\u202e/8\nsmtp://ab:pa55word@h\n',
        'relay_dest_domains.ini': [
          '[domains]',
          ...INJECTED_ROUTES.map((r, i) => `d${i}.example.com = { "action": "accept", "nexthop": "${r}" }`),
          'b.com = {"nexthop":"smtp://ab:hunter2@h}',
          'secret.example = {"action":"accept","nexthop":"smtp://user:hunter2@relay.example.net:587"}',
          'list.example = {"action":"accept","nexthop":["lmtp://lu:s3cr3tpw@relay.example.net:24","relay2.example.net"]}',
          `a.example = {"action":"accept",${keys.join(',')},"##[stop-commands]abc":1}`,
          '',
        ].join('\n'),
      },
      ip: '203.0.113.5',
      auth: false,
      rcpts: ['u@secret.example', 'u@list.example', 'u@d0.example.com', '##[x]@a.example', 'u\u202e\u009b@a.example', '::error::x'],
    })
    const s = await shown(v.page)
    assert.match(s.text, /smtp:\/\/user:\*\*\*@relay\.example\.net:587/)
    assert.deepEqual(s.nexthops.map((n) => JSON.parse(n)), ['smtp://user:***@relay.example.net:587', ['lmtp://lu:***@relay.example.net:24', 'relay2.example.net']])
    assert.match(s.text, /\\u202e/)
    assertClean(s.text, 'the page')
    for (const p of PASSWORDS) assert.ok(!s.attrs.includes(p), `${p} in an attribute of the page`)
  })

  it("has a Content-Security-Policy without 'unsafe-inline' scripts: an injected inline handler does not run", async () => {
    const html = fs.readFileSync(v.built.path, 'utf8')
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)[1]
    const scriptSrc = csp.split(';').find((d) => d.trim().startsWith('script-src'))
    assert.doesNotMatch(scriptSrc, /'unsafe-inline'/)
    assert.match(scriptSrc, /'sha256-[A-Za-z0-9+/]+=*'/)
    const ran = await v.page.evaluate(async () => {
      const violations = []
      document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective))
      globalThis.__ran = []
      const box = document.createElement('div')
      box.innerHTML =
        '<div id="hostile-click" onclick="__ran.push(\'onclick\')">x</div>' +
        '<img src="data:," onerror="__ran.push(\'onerror\')">' +
        '<svg onload="__ran.push(\'onload\')"></svg>'
      document.body.append(box)
      document.getElementById('hostile-click').click()
      const script = document.createElement('script')
      script.textContent = "__ran.push('script')"
      document.body.append(script)
      await new Promise((resolve) => setTimeout(resolve, 300))
      box.remove()
      script.remove()
      return { ran: globalThis.__ran, violations }
    })
    assert.deepEqual(ran.ran, [], 'an injected handler or script ran')
    assert.ok(ran.violations.length >= 3, JSON.stringify(ran.violations))
    // the page's own scripts still run: it answers
    await ask(v.page, { files: { 'relay.ini': '[relay]\nall=true\n', relay_acl_allow: '', 'relay_dest_domains.ini': '' } })
    assert.equal(await v.page.locator('#counts').textContent(), 'All three files: 1 warning')
  })
})
