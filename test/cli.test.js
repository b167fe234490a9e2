'use strict'
// relay-check (js/cli.js) as a user or a CI job runs it: a child process,
// its output and its exit status.
//
//   node --test test/cli.test.js

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, describe, it } = require('node:test')
const { relayCheck } = require('./support/relay-check')

const { createEngine } = require('../js/engine')

const REPO = path.resolve(__dirname, '..')
const CLI = path.join(REPO, 'js', 'cli.js')
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-cli-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

let dirCount = 0
// A config directory holding `files` ({name: text or Buffer}); a file not
// named is absent.
function configDir(files = {}) {
  const dir = path.join(tmpRoot, `c${++dirCount}`)
  fs.mkdirSync(dir)
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
  return dir
}

const { check, json } = relayCheck(tmpRoot)

const { relayIni: RELAY } = require('./support/relay-ini')

const DOMAINS = [
  '[domains]',
  'accept.example = { "action": "accept", "nexthop": "192.0.2.25:2525" }',
  'continue.example = { "action": "continue" }',
  'deny.example = { "action": "deny" }',
  'route-only.example = { "nexthop": ["192.0.2.30", "192.0.2.31:2525"] }',
  'broken.example = { "action": "accept", ',
  'any = { "nexthop": "smtp://192.0.2.99:587" }',
  '',
].join('\n')

const ACL = '# office\n192.0.2.0/24\n2001:db8:1::/48\n'

const DIAG_LINE = /^(.+?):(\d+):(?:(\d+):)? (error|warning|info): (.+) \[([a-z-]+)\]$/

describe('relay-check: diagnostics and exit status', () => {
  it('an empty directory is all defaults: no problems, exit 0', () => {
    const r = check([configDir()])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.deepEqual(r.lines.slice(-2), ['settings: acl=true force_routing=false dest_domains=false all=false', `no problems in ${path.join(tmpRoot, `c${dirCount}`, path.sep)}`])
  })

  it('the shipped config/ is clean, and is the default directory', () => {
    const r = check([], { cwd: REPO })
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /^no problems in config\/$/m)
  })

  it('prints every diagnostic as file:line:column: severity: message [code]; an error exits 1', () => {
    const dir = configDir({
      'relay.ini': RELAY({ dest_domains: true, force_routing: 'maybe' }),
      relay_acl_allow: '192.0.2.0/24\n  10.0.0.1/33\n192.0.2.0/24\n',
      'relay_dest_domains.ini': DOMAINS,
    })
    const r = check(['c' + dirCount])
    assert.equal(r.status, 1)
    const diags = r.lines.filter((l) => DIAG_LINE.test(l))
    const name = (f) => path.join(`c${dirCount}`, f)
    assert.ok(diags.includes(`${name('relay_acl_allow')}:2:12: error: prefix length out of range in '10.0.0.1/33' (IPv4 takes /0 to /32); entry ignored [acl-bad-prefix]`), diags.join('\n'))
    assert.ok(diags.some((l) => l.startsWith(`${name('relay.ini')}:3:1: warning: `) && l.endsWith('[ini-not-boolean]')))
    assert.ok(diags.some((l) => l.startsWith(`${name('relay_acl_allow')}:3:`) && l.includes(': info: ') && l.endsWith('[acl-duplicate]')))
    assert.ok(diags.some((l) => l.startsWith(`${name('relay_dest_domains.ini')}:6: error: `) && l.endsWith('[dest-bad-json]')))
    // the same list as the engine has for those texts, in its order
    const e = createEngine()
    for (const f of ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']) e.load(f, fs.readFileSync(path.join(dir, f), 'utf8'))
    assert.equal(diags.length, e.diagnostics().length)
    assert.match(r.stdout, /^settings: acl=true force_routing=false dest_domains=true all=false$/m)
    assert.match(r.stdout, /^2 errors, 2 warnings, 1 note in /m)
  })

  it('warnings alone exit 0; --strict makes them fail; notes never fail', () => {
    const warn = configDir({ 'relay.ini': RELAY({ all: true }) })
    assert.equal(check([warn]).status, 0)
    const strict = check(['--strict', warn])
    assert.equal(strict.status, 1)
    assert.match(strict.stdout, /relay\.ini:5:1: warning: .*open relay.* \[open-relay\]$/m)
    const note = configDir({ relay_acl_allow: '192.0.2.1\n192.0.2.1/32\n' })
    const r = check([note, '--strict'])
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /relay_acl_allow:2: info: .*\[acl-duplicate\]$/m)
  })

  it('--format json: diagnostics, effective settings, and nothing else', () => {
    const dir = configDir({ 'relay.ini': RELAY({ force_routing: true }), relay_acl_allow: 'nope\n0.0.0.0/0\n' })
    const { status, doc, stderr } = json([dir])
    assert.equal(status, 1, stderr)
    assert.deepEqual(Object.keys(doc), ['diagnostics', 'settings'])
    assert.deepEqual(doc.settings, { acl: true, force_routing: true, dest_domains: false, all: false })
    assert.deepEqual(
      doc.diagnostics.map(({ file, line, column, severity, code }) => ({ file, line, column, severity, code })),
      [
        { file: 'relay_acl_allow', line: 1, column: 1, severity: 'error', code: 'acl-bad-address' },
        { file: 'relay_acl_allow', line: 2, column: 1, severity: 'warning', code: 'acl-whole-internet' },
      ],
    )
    for (const d of doc.diagnostics) {
      assert.equal(typeof d.message, 'string')
      assert.equal(d.path, path.join(dir, d.file))
    }
  })

  it('--format github: one workflow command per diagnostic, paths relative to the workspace', () => {
    configDir({ relay_acl_allow: '10.0.0.1/33\n0.0.0.0/0\n192.0.2.1\n192.0.2.1\n', 'relay_dest_domains.ini': '[domains]\nx.example = {,\n' })
    const rel = `c${dirCount}`
    const r = check(['--format', 'github', rel], { env: { GITHUB_WORKSPACE: tmpRoot } })
    assert.equal(r.status, 1)
    const cmds = r.lines.filter((l) => l.startsWith('::'))
    assert.deepEqual(
      cmds.map((l) => l.slice(0, l.indexOf('::', 2))),
      [
        `::error file=${rel}/relay_acl_allow,line=1,col=10,title=relay-check acl-bad-prefix`,
        `::warning file=${rel}/relay_acl_allow,line=2,col=1,title=relay-check acl-whole-internet`,
        `::notice file=${rel}/relay_acl_allow,line=4,title=relay-check acl-duplicate`,
        `::error file=${rel}/relay_dest_domains.ini,line=2,title=relay-check dest-bad-json`,
        `::warning file=${rel}/relay_dest_domains.ini,line=2,title=relay-check dest-domains-off`,
      ],
    )
    assert.match(cmds[0], /::prefix length out of range in '10\.0\.0\.1\/33' .*\[acl-bad-prefix\]$/)
  })
})

describe('relay-check: a client question', () => {
  const files = {
    'relay.ini': RELAY({ dest_domains: true, force_routing: true }),
    relay_acl_allow: ACL,
    'relay_dest_domains.ini': DOMAINS,
  }
  const RCPTS = ['a@accept.example', 'victim@elsewhere.example', 'b@Continue.Example', 'c@deny.example', 'd@route-only.example', 'e@broken.example', '<f@accept.example>', 'postmaster']

  it('a client in relay_acl_allow relays: every recipient 250, with its route', () => {
    const dir = configDir(files)
    const { doc, status } = json([dir, '--ip', '192.0.2.77', ...RCPTS.flatMap((r) => ['--rcpt', r])])
    assert.equal(status, 1) // broken.example is an error in the file
    assert.deepEqual(
      { relay: doc.decision.client.relay, why: doc.decision.client.why, file: doc.decision.client.file, line: doc.decision.client.line },
      { relay: true, why: 'acl', file: 'relay_acl_allow', line: 2 },
    )
    const rs = doc.decision.recipients
    assert.deepEqual(
      rs.map((r) => [r.address, r.code, r.reason]),
      RCPTS.map((a) => [a.replace(/^<|>$/g, ''), 250, 'relay-acl']),
    )
    const route = Object.fromEntries(rs.map((r) => [r.address, r.route]))
    assert.deepEqual(route['a@accept.example'], {
      status: 'nexthop',
      nexthop: '192.0.2.25:2525',
      outbound: '192.0.2.25:2525', // what get_mx is handed
      key: 'accept.example',
      file: 'relay_dest_domains.ini',
      line: 2,
      // the form README.md shows for a route ("route: nexthop … (entry …, … line N)")
      explain: 'nexthop 192.0.2.25:2525 (entry accept.example, relay_dest_domains.ini line 2)',
    })
    assert.deepEqual(route['d@route-only.example'].nexthop, ['192.0.2.30', '192.0.2.31:2525'])
    assert.equal(route['victim@elsewhere.example'].nexthop, 'smtp://192.0.2.99:587')
    assert.equal(route['victim@elsewhere.example'].key, 'any')
    assert.equal(route['e@broken.example'].status, 'invalid')
    assert.equal(route['e@broken.example'].line, 6)
  })

  it('any other client: each recipient on its own by relay_dest_domains.ini (a grant does not carry)', () => {
    const dir = configDir(files)
    const { doc } = json([dir, '--ip', '203.0.113.5', ...RCPTS.flatMap((r) => ['--rcpt', r])])
    assert.equal(doc.decision.client.relay, false)
    assert.equal(doc.decision.client.why, 'none')
    const got = doc.decision.recipients.map((r) => [r.address, r.domain, r.accepted, r.code, r.message, r.reason, r.line])
    assert.deepEqual(got, [
      ['a@accept.example', 'accept.example', true, 250, 'recipient <a@accept.example> OK', 'dest-accept', 2],
      ['victim@elsewhere.example', 'elsewhere.example', false, 550, 'You are not allowed to relay', 'dest-unlisted', 0],
      ['b@Continue.Example', 'continue.example', true, 250, 'recipient <b@Continue.Example> OK', 'dest-continue', 3],
      ['c@deny.example', 'deny.example', false, 550, 'You are not allowed to relay', 'dest-deny', 4],
      ['d@route-only.example', 'route-only.example', false, 550, 'Mail for that recipient is not accepted here.', 'dest-noaction', 5],
      ['e@broken.example', 'broken.example', false, 550, 'Mail for that recipient is not accepted here.', 'dest-invalid', 6],
      ['f@accept.example', 'accept.example', true, 250, 'recipient <f@accept.example> OK', 'dest-accept', 2],
      ['postmaster', '', false, 550, 'You are not allowed to relay', 'dest-unlisted', 0],
    ])
    // refused recipients have no route; accepted ones do (continue.example
    // is listed without a nexthop: by MX, `any` is for unlisted domains)
    assert.deepEqual(
      doc.decision.recipients.map((r) => r.route && r.route.status),
      ['nexthop', null, 'mx', null, null, null, 'nexthop', null],
    )
  })

  it('SMTP AUTH relays a client that is not in the ACL; acl=false ignores the ACL', () => {
    const dir = configDir({ ...files, 'relay.ini': RELAY({ acl: false, dest_domains: true }) })
    const noAuth = json([dir, '--ip', '192.0.2.77', '--rcpt', 'x@elsewhere.example']).doc.decision
    assert.equal(noAuth.client.relay, false)
    assert.match(noAuth.client.explain, /acl=false/)
    assert.equal(noAuth.recipients[0].code, 550)
    const auth = json([dir, '--ip', '192.0.2.77', '--auth', '--rcpt', 'x@elsewhere.example', '--rcpt', 'y@deny.example']).doc.decision
    assert.equal(auth.client.why, 'auth')
    assert.deepEqual(auth.recipients.map((r) => [r.code, r.reason]), [[250, 'relay-auth'], [250, 'relay-auth']])
    assert.deepEqual(auth.recipients[0].route.status, 'mx') // force_routing=false
  })

  it('dest_domains=false: all=true accepts everything (from its line); otherwise Haraka refuses', () => {
    const open = configDir({ 'relay.ini': RELAY({ all: true }), relay_acl_allow: ACL })
    const d = json([open, '--ip', '203.0.113.5', '--rcpt', 'x@elsewhere.example']).doc.decision
    assert.deepEqual([d.recipients[0].code, d.recipients[0].reason, d.recipients[0].file, d.recipients[0].line], [250, 'all', 'relay.ini', 5])
    const closed = configDir({ relay_acl_allow: ACL })
    const c = json([closed, '--ip', '2001:db8:2::1', '--rcpt', 'X@Elsewhere.example']).doc.decision
    assert.deepEqual([c.recipients[0].code, c.recipients[0].message, c.recipients[0].reason], [550, 'I cannot deliver mail for <X@Elsewhere.example>', 'not-relaying'])
    assert.equal(json([closed, '--ip', '2001:db8:1::9', '--rcpt', 'x@y.example']).doc.decision.client.line, 3)
  })

  it('text output: the client, then each recipient with its code, reason and route', () => {
    const dir = configDir(files)
    const r = check([dir, '--ip', '203.0.113.5', '--rcpt', 'a@accept.example', '--rcpt', 'v@elsewhere.example'])
    const at = r.lines.findIndex((l) => l.startsWith('client '))
    assert.deepEqual(r.lines.slice(at, at + 4), [
      'client 203.0.113.5, not authenticated: does not relay: 203.0.113.5 is not in relay_acl_allow and the client is not authenticated: each recipient is decided by relay_dest_domains.ini (dest_domains=true)',
      '  <a@accept.example>: 250 accepted: relay_dest_domains.ini line 2 says accept for accept.example: accepted and relayed (this recipient only)',
      '    route: nexthop 192.0.2.25:2525 (entry accept.example, relay_dest_domains.ini line 2)',
      '  <v@elsewhere.example>: 550 refused "You are not allowed to relay": elsewhere.example is not listed in relay_dest_domains.ini',
    ])
  })

  it('--ip alone answers for the client only', () => {
    const { doc } = json([configDir({ relay_acl_allow: ACL }), '--ip', '::ffff:192.0.2.8'])
    assert.equal(doc.decision.client.relay, true)
    assert.deepEqual(doc.decision.recipients, [])
  })
})

describe('relay-check: recipients as Haraka reads them', () => {
  const { harakaRcpt, randomRcpts, UNICODE_RCPTS } = require('./support/haraka-rcpt')
  const LISTED = ['xn--bcher-kva.example', 'good.example', 'xn--fa-hia.example', 'ix.example']
  const files = {
    'relay.ini': RELAY({ dest_domains: true }),
    'relay_dest_domains.ini': `[domains]\n${LISTED.map((d) => `${d} = { "action": "accept" }`).join('\n')}\n`,
  }

  it('maps Unicode domains as Haraka does (UTS-46) and says 501 where Haraka refuses the address', () => {
    const dir = configDir(files)
    const { doc, stderr } = json([dir, '--ip', '203.0.113.5', ...UNICODE_RCPTS.flatMap((r) => ['--rcpt', r])])
    assert.equal(doc.decision.recipients.length, UNICODE_RCPTS.length, stderr)
    const seen = new Set()
    UNICODE_RCPTS.forEach((text, i) => {
      const h = harakaRcpt(text)
      const r = doc.decision.recipients[i]
      const want = h.code ? { code: 501, message: h.message } : { code: LISTED.includes(h.host) ? 250 : 550, domain: h.host }
      const got = h.code ? { code: r.code, message: r.message } : { code: r.code, domain: r.domain }
      assert.deepEqual(got, want, `--rcpt ${JSON.stringify(text)}`)
      seen.add(want.code)
    })
    assert.deepEqual([...seen].sort(), [250, 501, 550])
  })

  it('parseRecipient reads random RCPT TO arguments exactly as Haraka does', () => {
    const { parseRecipient } = require('../js/decide')
    const count = { ok: 0, refused: 0 }
    for (const s of randomRcpts(7, 20000)) {
      const h = harakaRcpt(s)
      const p = parseRecipient(s)
      const want = h.code ? { error: h.message } : { domain: h.host, address: h.address.format() }
      const got = p.error ? { error: p.error } : { domain: p.domain, address: `<${p.address}>` }
      assert.deepEqual(got, want, JSON.stringify(s))
      count[h.code ? 'refused' : 'ok']++
    }
    assert.ok(count.ok > 4000 && count.refused > 4000, JSON.stringify(count))
  })

  it('a trailing dot: 501 with Haraka\'s reason, in text, json and github formats', () => {
    const dir = configDir(files)
    const args = [dir, '--ip', '203.0.113.5', '--rcpt', 'u@good.example.', '--rcpt', 'v@good.example']
    const reason = 'Invalid RCPT TO address <u@good.example.>: Invalid RFC-5321 address at position 16: expected sub-domain'
    const { doc } = json(args)
    const r = doc.decision.recipients[0]
    assert.deepEqual([r.accepted, r.code, r.message, r.reason, r.route], [false, 501, reason, 'bad-address', null])
    assert.equal(doc.decision.recipients[1].code, 250)
    for (const format of ['text', 'github']) {
      const out = check([...args, '--format', format])
      assert.equal(out.status, 0, out.stderr)
      const line = out.lines.find((l) => l.startsWith('  <u@good.example.>'))
      assert.ok(line && line.startsWith(`  <u@good.example.>: 501 refused "${reason}": `), `${format}: ${out.stdout}`)
      assert.match(line, /Haraka refuses/)
    }
  })

  it('a key with a trailing dot matches no recipient Haraka hands on: dest-bad-domain', () => {
    const dir = configDir({ 'relay.ini': RELAY({ dest_domains: true }), 'relay_dest_domains.ini': '[domains]\ngood.example. = { "action": "accept" }\n' })
    const { doc } = json([dir, '--ip', '203.0.113.5', '--rcpt', 'u@good.example.', '--rcpt', 'u@good.example'])
    assert.deepEqual(
      doc.diagnostics.map((d) => [d.line, d.severity, d.code]),
      [[2, 'warning', 'dest-bad-domain']],
    )
    assert.match(doc.diagnostics[0].message, /good\.example\./)
    assert.deepEqual(doc.decision.recipients.map((r) => r.code), [501, 550])
  })
})

describe('relay-check: the client address is taken as Haraka hands it to the plugin', () => {
  it('an address with blanks around it is not an IP address (no trimming)', () => {
    const dir = configDir({ relay_acl_allow: ACL })
    for (const ip of [' 192.0.2.1', '192.0.2.1 ', '192.0.2.1\t']) {
      const r = check([dir, '--ip', ip, '--rcpt', 'a@b.example'])
      assert.equal(r.status, 2, `${JSON.stringify(ip)}: ${r.stdout}`)
      // a tab is shown escaped (issue 10: nothing raw is printed)
      assert.equal(r.stderr.split('\n')[0], `relay-check: --ip '${ip.replace('\t', '\\t')}' is not an IPv4 or IPv6 address`)
    }
    assert.equal(json([dir, '--ip', '192.0.2.1']).doc.decision.client.relay, true)
  })
})

describe('relay-check: files are decoded as the plugin decodes them', () => {
  it('decodeConfigBytes reads bytes exactly as Buffer#toString does, and names each line that got a U+FFFD', () => {
    const { decodeConfigBytes } = require('../js/config-text')
    const { rng } = require('./support/rng')
    const r = rng(0x5eed)
    const PIECES = [0x0a, 0x0d, 0x20, 0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0xf4, 0x90, 0xc0, 0xff, 0xbf]
    for (let n = 0; n < 5000; n++) {
      const bytes = Buffer.from(Array.from({ length: r.int(24) }, () => (r() < 0.7 ? r.pick(PIECES) : r.int(256))))
      const { text, diagnostics } = decodeConfigBytes(bytes, 'relay_acl_allow')
      assert.equal(text, bytes.toString('utf8'), bytes.toString('hex'))
      if (bytes.includes(Buffer.from('\ufffd'))) continue // a U+FFFD that was written as one
      const lines = text.split(/\r\n|\r|\n/)
      const want = lines.flatMap((l, i) => (l.includes('\ufffd') ? [i + 1] : []))
      assert.deepEqual(diagnostics.map((d) => d.line), want, bytes.toString('hex'))
      for (const d of diagnostics) {
        const line = lines[d.line - 1]
        assert.equal(d.column, Buffer.from(line.slice(0, line.indexOf('\ufffd'))).length + 1, bytes.toString('hex'))
      }
    }
  })

  it('a byte that is not UTF-8 in a comment: a warning at its line, the file read as Haraka reads it', () => {
    const acl = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from(' office\r\n192.0.2.0/24\n# \xff\xfe\n', 'latin1')])
    const dir = configDir({ relay_acl_allow: acl, 'relay.ini': RELAY() })
    const r = check([dir, '--ip', '192.0.2.7'])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(r.stderr, '')
    const diags = r.lines.filter((l) => DIAG_LINE.test(l))
    assert.deepEqual(diags, [
      `${path.join(dir, 'relay_acl_allow')}:1:6: warning: a byte that is not UTF-8 (0xe9) at column 6; read as U+FFFD, as Haraka reads it [text-encoding]`,
      `${path.join(dir, 'relay_acl_allow')}:3:3: warning: 2 bytes that are not UTF-8 (0xff 0xfe) from column 3; read as U+FFFD, as Haraka reads them [text-encoding]`,
    ])
    assert.match(r.stdout, /^client 192\.0\.2\.7, not authenticated: relays: relay_acl_allow line 2 lists 192\.0\.2\.7/m)
    assert.equal(check([dir, '--strict']).status, 1)
  })

  it('bad bytes inside an entry: the entry is refused, as the plugin refuses it', () => {
    const domains = Buffer.concat([Buffer.from('[domains]\nb'), Buffer.from([0xfc]), Buffer.from('cher.example = {"action":"accept"}\n')])
    const dir = configDir({ 'relay.ini': RELAY({ dest_domains: true }), 'relay_dest_domains.ini': domains })
    const { doc, status } = json([dir, '--ip', '203.0.113.5', '--rcpt', 'u@b\ufffdcher.example'])
    assert.equal(status, 1)
    assert.deepEqual(
      doc.diagnostics.map((d) => [d.line, d.column, d.severity, d.code]),
      [
        [2, 2, 'error', 'ini-invalid-line'],
        [2, 2, 'warning', 'text-encoding'],
      ],
    )
    assert.equal(doc.decision.recipients[0].code, 501) // U+FFFD is no IDN either
  })

  it('a NUL byte or bytes that are not UTF-8 do not stop it: the module judges the lines, as in the plugin', () => {
    const nul = json([configDir({ relay_acl_allow: Buffer.from('192.0.2.1\r\n10.0.0.1\0\n') }), '--ip', '10.0.0.1'])
    assert.equal(nul.status, 1, nul.stderr)
    assert.deepEqual(nul.doc.diagnostics.map((d) => [d.line, d.code]), [[2, 'acl-bad-address']])
    assert.equal(nul.doc.decision.client.relay, false)
    const bad = json([configDir({ 'relay_dest_domains.ini': Buffer.from([0x5b, 0x64, 0x5d, 0x0a, 0x61, 0xc3, 0x28]) })])
    assert.equal(bad.status, 1, bad.stderr) // a\ufffd( is no key = value line
    assert.ok(bad.doc.diagnostics.some((d) => d.line === 2 && d.column === 2 && d.code === 'text-encoding' && /\(0xc3\)/.test(d.message)), JSON.stringify(bad.doc.diagnostics))
    // well-formed UTF-8 is read as it is (the module then judges the line)
    const ok = check([configDir({ 'relay_dest_domains.ini': '[domains]\nbücher.example = {"action":"accept"}\n' })])
    assert.equal(ok.status, 1)
    assert.match(ok.stdout, /relay_dest_domains\.ini:2:\d+: error: .*\[ini-invalid-line\]/)
    assert.doesNotMatch(ok.stdout, /text-encoding/)
  })
})

describe('relay-check: nexthop URLs are checked for the host outbound uses', () => {
  const { HarakaMx } = require('haraka-net-utils')
  const ROUTES = [
    'smtp://good.example/@evil.example',
    'smtp://good.example#@evil.example',
    'smtp://good.example?@evil.example',
    'lmtp://good.example:24/@evil.example:25',
    'smtp://good.example\\@evil.example',
    'smtp://user@good.example/x@evil.example',
    'smtp://us er:pw@good.example',
    'smtp://üser:pw@good.example',
    'smtp://user:p\u0001w@good.example',
    'smtp://a@b@good.example',
    'smtp://u;x@good.example',
    'smtp://u:p:w@good.example',
  ]
  const GOOD = ['smtp://good.example', 'smtp://good.example/', 'smtp://user:pw@good.example:587', "lmtp://u-1.x_y~!$&'()*+,:p%40w@good.example:24"]

  it('refuses a URL whose host is not the one a reader sees, naming the host outbound would use', () => {
    const lines = ROUTES.map((hop, i) => `r${i}.example = ${JSON.stringify({ action: 'accept', nexthop: hop })}`)
    const ok = GOOD.map((hop, i) => `g${i}.example = ${JSON.stringify({ action: 'accept', nexthop: hop })}`)
    const dir = configDir({ 'relay.ini': RELAY({ dest_domains: true, force_routing: true }), 'relay_dest_domains.ini': `[domains]\n${[...lines, ...ok].join('\n')}\n` })
    const { doc } = json([dir])
    const bad = doc.diagnostics.filter((d) => d.code === 'dest-bad-nexthop')
    assert.deepEqual(
      bad.map((d) => d.line),
      ROUTES.map((_, i) => i + 2),
      JSON.stringify(doc.diagnostics, null, 1),
    )
    ROUTES.forEach((hop, i) => {
      let host
      try {
        host = new HarakaMx(hop).exchange
      } catch {
        host = null
      }
      if (host) assert.ok(bad[i].message.includes(`outbound would use ${host}`), `${hop}: ${bad[i].message}`)
    })
    // the routes it takes are routed to the host they name
    const e = createEngine()
    e.load('relay.ini', RELAY({ force_routing: true }))
    e.load('relay_dest_domains.ini', `[domains]\n${ok.join('\n')}\n`)
    GOOD.forEach((hop, i) => {
      assert.deepEqual(e.route(`g${i}.example`).nexthop, hop)
      // outbound uses the host, and the user and password, as written
      const mx = new HarakaMx(hop)
      const m = /^\w+:\/\/(?:([^:@]*)(?::([^@]*))?@)?([^:/]*)/.exec(hop)
      assert.deepEqual([mx.exchange, mx.auth_user, mx.auth_pass], [m[3], m[1], m[2]], hop)
    })
  })
})

describe('relay-check: problems that stop it (exit 2, one line, no stack)', () => {
  const fails = (args, pattern, opts) => {
    const r = check(args, opts)
    assert.equal(r.status, 2, `${r.stdout}${r.stderr}`)
    assert.equal(r.stdout, '')
    const lines = r.stderr.split('\n').filter(Boolean)
    assert.match(lines[0], pattern)
    assert.ok(!/\n\s+at /.test(r.stderr), r.stderr)
    return lines
  }

  it('a directory that does not exist, or is a file', () => {
    assert.equal(fails([path.join(tmpRoot, 'nope')], /^relay-check: cannot read config directory .*nope: no such file or directory$/).length, 1)
    const file = path.join(tmpRoot, 'plain-file')
    fs.writeFileSync(file, 'x')
    assert.equal(fails([file], /^relay-check: cannot read config directory .*plain-file: not a directory$/).length, 1)
  })

  it('a config file that is a directory', () => {
    const dir = configDir()
    fs.mkdirSync(path.join(dir, 'relay.ini'))
    fails([dir], /^relay-check: .*relay\.ini: cannot read: is a directory, not a file$/)
  })

  it('a file over 64 MiB', () => {
    const dir = configDir()
    fs.closeSync(fs.openSync(path.join(dir, 'relay_acl_allow'), 'w'))
    fs.truncateSync(path.join(dir, 'relay_acl_allow'), 64 * 1024 * 1024 + 1) // sparse: never read
    fails([dir], /^relay-check: .*relay_acl_allow: too large: 67108865 bytes, over the 64 MiB that relay-wasm reads per file$/)
  })

  it('usage errors name the problem and point at --help', () => {
    const dir = configDir()
    for (const [args, pattern] of [
      [['--bogus'], /^relay-check: Unknown option '--bogus'$/],
      [['--format', 'xml', dir], /^relay-check: --format takes text, json, github \(got 'xml'\)$/],
      [['--rcpt', 'a@b.example', dir], /^relay-check: --rcpt and --auth need --ip ADDRESS$/],
      [['--ip', 'localhost', '--rcpt', 'a@b.example', dir], /^relay-check: --ip 'localhost' is not an IPv4 or IPv6 address$/],
      [[dir, dir], /^relay-check: one CONFIG_DIR at most \(got 2\)$/],
    ]) {
      const lines = fails(args, pattern)
      assert.deepEqual(lines.slice(1), ["Try 'relay-check --help'."])
    }
  })

  it('--help prints the usage and exits 0', () => {
    const r = check(['--help'])
    assert.equal(r.status, 0)
    assert.match(r.stdout, /^usage: relay-check \[CONFIG_DIR\]/)
  })
})

describe('relay-check: the bin', () => {
  it('package.json names js/cli.js as relay-check, an executable with a node shebang', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'))
    assert.equal(pkg.bin['relay-check'], 'js/cli.js')
    assert.ok(pkg.files.includes('js/'))
    const st = fs.statSync(CLI)
    assert.ok(st.mode & 0o111, 'js/cli.js is not executable')
    assert.ok(fs.readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n'))
    const r = spawnSync(CLI, ['--version'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), pkg.version)
  })
})

// issue 11: what relay-check approves is what Haraka's outbound uses, a
// route that cannot be read leaves the action as written, and `any` is for
// domains without an entry.
describe('relay-check: routes as outbound uses them (issue 11)', () => {
  const net = require('node:net')
  const { HarakaMx } = require('haraka-net-utils')

  it('every URL form it approves, [IPv6] hosts included, gives outbound the host it names', () => {
    // [hop, host, port, lmtp]
    const HOPS = [
      ['smtp://[::1]:2525', '::1', 2525, false],
      ['lmtp://[::1]:2525', '::1', 2525, true],
      ['smtp://u:p@[2001:DB8::25]', '2001:db8::25', undefined, false],
      ['lmtp://[2001:db8::26]/', '2001:db8::26', undefined, true],
      ['smtp://127.0.0.1:2601/', '127.0.0.1', 2601, false],
      ['lmtp://127.0.0.1:24', '127.0.0.1', 24, true],
      ['[::1]:2525', '::1', 2525, false],
      ['::1', '::1', undefined, false],
    ]
    const lines = HOPS.map(([hop], i) => `h${i}.example = ${JSON.stringify({ action: 'accept', nexthop: hop })}`)
    const dir = configDir({
      'relay.ini': RELAY({ dest_domains: true, force_routing: true }),
      relay_acl_allow: '192.0.2.0/24\n',
      'relay_dest_domains.ini': `[domains]\n${lines.join('\n')}\n`,
    })
    const { doc, status } = json([dir, '--ip', '203.0.113.5', ...HOPS.flatMap((_, i) => ['--rcpt', `u@h${i}.example`])])
    assert.equal(status, 0, JSON.stringify(doc.diagnostics))
    HOPS.forEach(([hop, host, port, lmtp], i) => {
      const r = doc.decision.recipients[i]
      assert.equal(r.code, 250, hop)
      assert.equal(r.route.status, 'nexthop', hop)
      assert.equal(r.route.nexthop, hop.replace(/^(\w+:\/\/[^:@/]*):[^@]*@/, '$1:***@')) // as written, the password masked
      assert.ok('outbound' in r.route, `${hop}: no outbound in ${JSON.stringify(r.route)}`)
      // what the plugin hands get_mx, read as outbound reads it
      const mx = new HarakaMx(r.route.outbound)
      assert.ok(net.isIP(mx.exchange), `${hop}: outbound would use ${mx.exchange}`)
      assert.deepEqual([mx.exchange, mx.port, !!mx.using_lmtp], [host, port, lmtp], hop)
      assert.doesNotMatch(JSON.stringify(r.route.outbound), /"auth_pass":"p"/, 'the password is not shown')
    })
  })

  it('a route with a bad element: the recipient is accepted; the route defers and names the element', () => {
    const domains = '[domains]\narr.example = {"action":"accept","nexthop":["127.0.0.1:25","bad host"]}\n'
    const on = check([configDir({ 'relay.ini': RELAY({ dest_domains: true, force_routing: true }), 'relay_dest_domains.ini': domains }), '--ip', '203.0.113.5', '--rcpt', 'u@arr.example'])
    assert.equal(on.status, 1, on.stdout)
    assert.ok(on.lines.some((l) => /relay_dest_domains\.ini:2(:\d+)?: error: .*element 2 of 2: bad character in host name/.test(l)), on.stdout)
    assert.ok(on.lines.some((l) => /^ {2}<u@arr\.example>: 250 accepted/.test(l)), on.stdout)
    assert.ok(on.lines.some((l) => /^ {4}route: deferred: .*element 2 of 2: bad character in host name/.test(l)), on.stdout)
    const off = check([configDir({ 'relay.ini': RELAY({ dest_domains: true }), 'relay_dest_domains.ini': domains }), '--ip', '203.0.113.5', '--rcpt', 'u@arr.example'])
    assert.equal(off.status, 0, off.stdout)
    assert.ok(off.lines.some((l) => /relay_dest_domains\.ini:2(:\d+)?: warning: .*element 2 of 2/.test(l)), off.stdout)
    assert.ok(off.lines.some((l) => /^ {2}<u@arr\.example>: 250 accepted/.test(l)), off.stdout)
    assert.ok(off.lines.some((l) => /^ {4}route: MX lookup/.test(l)), off.stdout)
  })

  it('a listed domain without a nexthop goes by MX; `any` routes the domains without an entry', () => {
    const dir = configDir({
      'relay.ini': RELAY({ dest_domains: true, force_routing: true }),
      relay_acl_allow: '192.0.2.0/24\n',
      'relay_dest_domains.ini': '[domains]\nlisted.example = {"action":"accept"}\nany = {"nexthop":"smarthost.example:25"}\n',
    })
    const { doc } = json([dir, '--ip', '192.0.2.9', '--rcpt', 'a@listed.example', '--rcpt', 'b@unlisted.example'])
    const [listed, unlisted] = doc.decision.recipients
    assert.equal(listed.route.status, 'mx', JSON.stringify(listed.route))
    assert.match(listed.route.explain, /MX lookup for listed\.example/)
    assert.deepEqual([unlisted.route.status, unlisted.route.key, unlisted.route.nexthop], ['nexthop', 'any', 'smarthost.example:25'])
  })
})

describe('relay-check: one domain in a readable line and one that cannot be read', () => {
  it('the narrower action holds, and its mail is deferred: the route the broken line meant is not known', () => {
    const dir = configDir({
      'relay.ini': RELAY({ dest_domains: true, force_routing: true }),
      'relay_dest_domains.ini': '[domains]\ntwice.example = { "action": "deny" }\nTwice.Example = { "action": "accept", \n',
    })
    // refused to a stranger; a client that relays gets its mail deferred, never sent by MX
    const stranger = json([dir, '--ip', '203.0.113.5', '--rcpt', 'a@twice.example']).doc.decision.recipients[0]
    assert.deepEqual([stranger.code, stranger.reason, stranger.line], [550, 'dest-deny', 2])
    const authed = json([dir, '--ip', '203.0.113.5', '--auth', '--rcpt', 'a@twice.example']).doc.decision.recipients[0]
    assert.deepEqual([authed.code, authed.route.status, authed.route.line, authed.route.why], [250, 'invalid', 2, 'line 3 cannot be read, so the route it meant is not known'])
  })
})
