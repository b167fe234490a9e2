'use strict'
// relay-check DIR --expect FILE (js/expect.js): relay policy tests an admin
// keeps in CI, run as a user or a CI job runs them: the real CLI in a child
// process, on the configs and expectation files of test/fixtures/expect/.
//
//   node --test test/expect.test.js

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, describe, it } = require('node:test')
const { relayCheck } = require('./support/relay-check')

const REPO = path.resolve(__dirname, '..')
const CLI = path.join(REPO, 'js', 'cli.js')
const FIX = 'test/fixtures/expect' // relative to REPO: the paths printed
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-expect-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const { check, json } = relayCheck(REPO)

const DOMAINS = `${FIX}/domains/config`
const FAIL = `${FIX}/domains/fail.txt`

/* What domains/fail.txt must give, line by line (text after `FILE:LINE: `). */
const FAILS = [
  [3, 'expected accept, got refuse 550 (far.test is not listed in relay_dest_domains.ini)'],
  [4, 'expected refuse, got accept via smtp://relay:***@smarthost.example:587 (the client relays (relay_acl_allow line 2), so every recipient is accepted; relay_dest_domains.ini is not consulted)'],
  [5, 'expected accept via 192.0.2.26:2525, got accept via 192.0.2.25:2525 (the route of entry partner.test, relay_dest_domains.ini line 3)'],
  [6, 'expected accept via 192.0.2.25:2525, got accept by mx (MX lookup for example.net: its entry (relay_dest_domains.ini line 2) gives no nexthop, and `any` routes only domains without an entry)'],
  [7, 'expected left to other plugins, got refuse 550 (relay_dest_domains.ini line 4 says deny for deny.test)'],
  [8, 'expected refuse 550, got refuse 501 (Invalid RCPT TO address <a.@example.net>: Invalid RFC-5321 address at position 3: expected atom after ".")'],
  [9, 'expected accept via smtp://other:***@smarthost.example:587, got accept via smtp://relay:***@smarthost.example:587 (the route of entry any, relay_dest_domains.ini line 7)'],
  [10, 'expected accept via 192.0.2.31:2525, 192.0.2.30, got accept via 192.0.2.30, 192.0.2.31:2525 (the route of entry pair.test, relay_dest_domains.ini line 5)'],
]
const SYNTAX = 'write CLIENT [auth] -> RECIPIENT: ANSWER'
const MALFORMED = [
  [13, `no '->' between the client and the recipient (${SYNTAX})`],
  [14, `no client address before '->' (${SYNTAX})`],
  [15, "'admin' after the client address: only 'auth' may stand there"],
  [16, `no answer after the recipient (${SYNTAX}; ANSWER is 'accept', 'refuse' or 'left to other plugins')`],
  [17, "'allow' is no answer: write 'accept', 'refuse' or 'left to other plugins' after the recipient"],
  [18, `no recipient between '->' and ':' (${SYNTAX})`],
  [19, "'accept via' names no route"],
  [20, "an empty element in the route '192.0.2.30,,192.0.2.31'"],
  [21, "'accept' takes 'via ROUTE', 'by mx' or 'deferred' after it, not 'quickly'"],
  [22, "'refuse' takes a code, 550 or 501, after it, not '450'"],
  [23, "'left to other plugins' takes nothing after it, not 'now'"],
  [24, "'300.1.1.1' is not an IPv4 or IPv6 address"],
].map(([line, what]) => [line, `cannot read the expectation: ${what}`])

describe('relay-check --expect: expectations that hold', () => {
  it('every answer form holds on domains/config: exit 0, one summary line, nothing on stderr', () => {
    const r = check([DOMAINS, '--expect', `${FIX}/domains/pass.txt`])
    assert.equal(r.stderr, '')
    assert.deepEqual(r.lines, [
      'settings: acl=true force_routing=true dest_domains=true all=false',
      `no problems in ${DOMAINS}/`,
      `${FIX}/domains/pass.txt: 16 of 16 expectations hold`,
    ])
    assert.equal(r.status, 0)
  })

  it('left to other plugins: dest_domains=false and a client that is not in relay_acl_allow', () => {
    const r = check([`${FIX}/acl-only/config`, '--expect', `${FIX}/acl-only/pass.txt`])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(r.lines.at(-1), `${FIX}/acl-only/pass.txt: 4 of 4 expectations hold`)
    const f = check([`${FIX}/acl-only/config`, '--expect', `${FIX}/acl-only/fail.txt`])
    assert.equal(f.status, 1)
    assert.deepEqual(f.lines.slice(2), [
      `${FIX}/acl-only/fail.txt:1: expected left to other plugins, got accept by mx (the client relays (relay_acl_allow line 2), so every recipient is accepted; relay_dest_domains.ini is not consulted)`,
      `${FIX}/acl-only/fail.txt:2: expected refuse 501, got left to other plugins (the client does not relay and no hook of this plugin vouches for the recipient, so Haraka refuses it (unless another rcpt plugin accepts it as a local recipient))`,
      `${FIX}/acl-only/fail.txt: 0 of 2 expectations hold, 2 do not`,
    ])
  })

  it('each line is decided as the question mode decides --ip/--auth/--rcpt (the same answer, field by field)', () => {
    const { doc, status } = json([DOMAINS, '--expect', `${FIX}/domains/pass.txt`])
    assert.equal(status, 0)
    const results = doc.expectations.results
    assert.equal(results.length, 16)
    for (const res of results) {
      assert.equal(res.status, 'holds', JSON.stringify(res))
      const m = /^(\S+)( auth)? -> (.*):\s*(?:accept|refuse|left)/i.exec(res.text)
      const q = json([DOMAINS, '--ip', m[1], ...(m[2] ? ['--auth'] : []), '--rcpt', m[3]])
      assert.deepEqual({ client: res.client, recipient: res.recipient }, { client: q.doc.decision.client, recipient: q.doc.decision.recipients[0] }, res.text)
    }
  })
})

describe('relay-check --expect: expectations that do not hold, at their lines', () => {
  it('text: FILE:LINE: expected X, got Y (reason), and FILE:LINE: cannot read the expectation: ...; exit 1', () => {
    const r = check([DOMAINS, '--expect', FAIL])
    assert.equal(r.stderr, '')
    assert.equal(r.status, 1)
    assert.deepEqual(r.lines, [
      'settings: acl=true force_routing=true dest_domains=true all=false',
      `no problems in ${DOMAINS}/`,
      ...[...FAILS, ...MALFORMED].map(([line, msg]) => `${FAIL}:${line}: ${msg}`),
      `${FAIL}: 1 of 21 expectations holds, 8 do not, 12 cannot be read`,
    ])
  })

  it('--format json: every line with its status, the words expected and got, and the same message', () => {
    const { doc, status, stderr } = json([DOMAINS, '--expect', FAIL])
    assert.equal(status, 1, stderr)
    assert.deepEqual(Object.keys(doc), ['diagnostics', 'settings', 'expectations'])
    const e = doc.expectations
    assert.deepEqual({ file: e.file, ok: e.ok, total: e.total, hold: e.hold, fail: e.fail, malformed: e.malformed }, { file: FAIL, ok: false, total: 21, hold: 1, fail: 8, malformed: 12 })
    assert.deepEqual(
      e.results.map((x) => [x.line, x.status, x.message]),
      [[2, 'holds', undefined], ...FAILS.map(([l, m]) => [l, 'fails', m]), ...MALFORMED.map(([l, m]) => [l, 'malformed', m])],
    )
    const byLine = Object.fromEntries(e.results.map((x) => [x.line, x]))
    assert.deepEqual(
      [byLine[2], byLine[3], byLine[7]].map(({ expected, got, reason }) => ({ expected, got, reason })),
      [
        { expected: 'refuse', got: 'refuse 550', reason: undefined },
        { expected: 'accept', got: 'refuse 550', reason: 'far.test is not listed in relay_dest_domains.ini' },
        { expected: 'left to other plugins', got: 'refuse 550', reason: 'relay_dest_domains.ini line 4 says deny for deny.test' },
      ],
    )
    assert.equal(byLine[3].text, '203.0.113.5 -> someone@far.test: accept')
    assert.equal(byLine[3].recipient.reason, 'dest-unlisted')
    assert.equal(byLine[24].text, '300.1.1.1 -> a@example.net: accept')
    assert.equal(byLine[24].recipient, undefined)
  })

  it('--format github: one ::error annotation per line that does not hold, on the expectation file', () => {
    const r = check([DOMAINS, '--expect', FAIL, '--format', 'github'], { env: { GITHUB_WORKSPACE: path.join(REPO, 'test') } })
    assert.equal(r.status, 1)
    const rel = 'fixtures/expect/domains/fail.txt' // relative to $GITHUB_WORKSPACE
    assert.deepEqual(r.lines, [
      'settings: acl=true force_routing=true dest_domains=true all=false',
      `no problems in ${DOMAINS}/`,
      ...FAILS.map(([line, msg]) => `::error file=${rel},line=${line},title=relay-check expectation::${msg}`),
      ...MALFORMED.map(([line, msg]) => `::error file=${rel},line=${line},title=relay-check bad expectation::${msg}`),
      `${FAIL}: 1 of 21 expectations holds, 8 do not, 12 cannot be read`,
    ])
  })

  it('the diagnostics of the config come first, and an error in it exits 1 even when every expectation holds', () => {
    const r = check([`${FIX}/broken-route/config`, '--expect', `${FIX}/broken-route/pass.txt`])
    assert.equal(r.status, 1)
    assert.match(r.lines[0], /^test\/fixtures\/expect\/broken-route\/config\/relay_dest_domains\.ini:2: error: .*\[dest-bad-nexthop\]$/)
    assert.equal(r.lines.at(-1), `${FIX}/broken-route/pass.txt: 2 of 2 expectations hold`)
    const { doc } = json([`${FIX}/broken-route/config`, '--expect', `${FIX}/broken-route/pass.txt`])
    assert.equal(doc.expectations.ok, true)
    assert.equal(doc.diagnostics[0].code, 'dest-bad-nexthop')
    const g = check([`${FIX}/broken-route/config`, '--expect', `${FIX}/broken-route/pass.txt`, '--format', 'github'])
    assert.match(g.lines[0], /^::error file=test\/fixtures\/expect\/broken-route\/config\/relay_dest_domains\.ini,line=2,title=relay-check dest-bad-nexthop::/)
  })

  it('a file without any expectation fails (a policy test that tests nothing is no pass)', () => {
    const file = path.join(tmpRoot, 'empty.txt')
    fs.writeFileSync(file, '# nothing yet\n\n   \n')
    const r = check([DOMAINS, '--expect', file])
    assert.equal(r.status, 1)
    assert.equal(r.lines.at(-1), `${file}: no expectation in the file (write one a line: CLIENT [auth] -> RECIPIENT: ANSWER)`)
    const g = check([DOMAINS, '--expect', file, '--format', 'github'], { env: { GITHUB_WORKSPACE: tmpRoot } })
    assert.ok(g.lines.includes('::error file=empty.txt,title=relay-check expectation::no expectation in the file (write one a line: CLIENT [auth] -> RECIPIENT: ANSWER)'), g.stdout)
    assert.equal(json([DOMAINS, '--expect', file]).doc.expectations.ok, false)
  })

  it('line numbers count CRLF, CR and LF line ends, and a BOM is no part of the first line', () => {
    const file = path.join(tmpRoot, 'ends.txt')
    fs.writeFileSync(file, '\ufeff203.0.113.5 -> a@far.test: refuse\r\n# c\r203.0.113.5 -> a@far.test: accept\n\r\n203.0.113.5 -> b@far.test: accept\n')
    const r = check([DOMAINS, '--expect', file])
    assert.deepEqual(r.lines.slice(2), [
      `${file}:3: expected accept, got refuse 550 (far.test is not listed in relay_dest_domains.ini)`,
      `${file}:5: expected accept, got refuse 550 (far.test is not listed in relay_dest_domains.ini)`,
      `${file}: 1 of 3 expectations holds, 2 do not`,
    ])
  })
})

describe('relay-check --expect: problems that stop the check (exit 2)', () => {
  it('a missing expectation file, a directory, a missing config directory, --expect with --ip', () => {
    const cases = [
      [[DOMAINS, '--expect', `${FIX}/nope.txt`], `relay-check: ${FIX}/nope.txt: cannot read: no such file or directory`],
      [[DOMAINS, '--expect', FIX], `relay-check: ${FIX}: cannot read: is a directory, not a file`],
      [[`${FIX}/nope`, '--expect', FAIL], `relay-check: cannot read config directory ${FIX}/nope: no such file or directory`],
      [[DOMAINS, '--expect', FAIL, '--ip', '192.0.2.1'], 'relay-check: --expect and --ip ask different questions: give one of them'],
      [[DOMAINS, '--expect'], "relay-check: Option '--expect <value>' argument missing"],
    ]
    for (const [args, first] of cases) {
      const r = check(args)
      assert.equal(r.status, 2, args.join(' '))
      assert.equal(r.stdout, '')
      assert.equal(r.stderr.split('\n')[0], first)
    }
  })

  it('a symbolic link out of the directory of the expectation file is not followed (--follow-symlinks reads it)', () => {
    const outside = path.join(tmpRoot, 'outside')
    const repo = path.join(tmpRoot, 'repo')
    fs.mkdirSync(outside)
    fs.mkdirSync(repo)
    fs.writeFileSync(path.join(outside, 'secret'), 'root:x:0:0:the runner secret\n')
    fs.symlinkSync(path.join(outside, 'secret'), path.join(repo, 'relay-policy.txt'))
    const r = check([path.join(REPO, DOMAINS), '--expect', 'relay-policy.txt'], { cwd: repo })
    assert.equal(r.status, 2)
    assert.equal(r.stderr, `relay-check: relay-policy.txt: a symbolic link to ${path.join(fs.realpathSync(outside), 'secret')}, outside .: not followed (--follow-symlinks reads it)\n`)
    assert.doesNotMatch(r.stdout + r.stderr, /runner secret/)
    const f = check([path.join(REPO, DOMAINS), '--expect', 'relay-policy.txt', '--follow-symlinks'], { cwd: repo })
    assert.equal(f.status, 1)
    assert.match(f.stdout, /^relay-policy\.txt:1: cannot read the expectation: no '->'/m)
  })
})

/* ---- hostile expectation files ----------------------------------------
 * The expectation file comes with the config, from anyone who may open a
 * pull request.  Checked here by rules written for this file. */
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/
function unsafe(line, { annotation }) {
  if (RAW.test(line)) return `raw U+${RAW.exec(line)[0].charCodeAt(0).toString(16).padStart(4, '0')}`
  if (line.includes('##[')) return '##['
  if (annotation ? !/^::error (file|line|title)=[^:]*::/.test(line) : /^[\s\u0085]*::/.test(line)) return 'a runner command'
  if (/s3cr3t|hunter2/.test(line)) return 'a password'
  return null
}
function assertClean(text, label, { annotation = false } = {}) {
  for (const line of text.split('\n').slice(0, -1)) {
    const bad = unsafe(line, { annotation: annotation && line.startsWith('::') })
    assert.equal(bad, null, `${label}: ${bad} in ${JSON.stringify(line)}`)
    if (annotation && line.startsWith('::')) assert.ok(line.startsWith('::error '), `${label}: ${line}`)
  }
}

describe('relay-check --expect: a hostile expectation file is printed safely', () => {
  const LINES = [
    '203.0.113.5 -> a@far.test: accept via smtp://u:s3cr3t@h.example:25\u001b[31m', // 1: ANSI, password
    '::error::injected -> a@far.test: accept', // 2: a runner command as the client
    '203.0.113.5 -> ##[group]x@far.test: accept', // 3: ##[ in the recipient (501)
    '203.0.113.5 -> a@far\u202e.test: accept', // 4: a bidi control in the domain (501)
    '203.0.113.5 -> a@far.test: refuse\u0085', // 5: a C1 control after the answer
    '203.0.113.5\u0007\u0000 -> a@far.test: refuse', // 6: BEL and NUL in the client
    '203.0.113.5 -> a@far.test: refuse\r::warning::split by a CR', // 7 (holds), 8: a CR ends a line
    '192.0.2.10 -> a@far.test: accept via smtp://relay:s3cr3t@smarthost.example:587', // 9: holds: a password is not compared
    '192.0.2.10 -> a@far.test: refuse', // 10: got the route of any, password masked
  ]
  const file = path.join(tmpRoot, 'hostile.txt')
  fs.writeFileSync(file, LINES.join('\n'))
  const name = 'hostile.txt'
  const domains = path.join(REPO, DOMAINS)

  it('text: control characters escaped, no runner command, no password; the messages exact', () => {
    const r = check([domains, '--expect', name], { cwd: tmpRoot })
    assert.equal(r.status, 1)
    assertClean(r.stdout, 'text')
    assert.deepEqual(r.lines.slice(2), [
      `${name}:1: expected accept via smtp://u:***@h.example:25\\u001b[31m, got refuse 550 (far.test is not listed in relay_dest_domains.ini)`,
      `${name}:2: cannot read the expectation: '::error::injected' is not an IPv4 or IPv6 address`,
      `${name}:3: expected accept, got refuse 501 (Invalid RCPT TO address <\\u0023#[group]x@far.test>: Invalid RFC-5321 address at position 3: expected "@")`,
      `${name}:4: expected accept, got refuse 501 (Invalid RCPT TO address <a@far\\u202e.test>: invalid IDN domain)`,
      `${name}:5: cannot read the expectation: 'refuse\\u0085' is no answer: write 'accept', 'refuse' or 'left to other plugins' after the recipient`,
      `${name}:6: cannot read the expectation: '203.0.113.5\\u0007\\u0000' is not an IPv4 or IPv6 address`,
      `${name}:8: cannot read the expectation: no '->' between the client and the recipient (write CLIENT [auth] -> RECIPIENT: ANSWER)`,
      `${name}:10: expected refuse, got accept via smtp://relay:***@smarthost.example:587 (the client relays (relay_acl_allow line 2), so every recipient is accepted; relay_dest_domains.ini is not consulted)`,
      `${name}: 2 of 10 expectations hold, 4 do not, 4 cannot be read`,
    ])
  })

  it('--format github: data and properties escaped as GitHub documents, no other command', () => {
    const r = check([domains, '--expect', name, '--format', 'github'], { cwd: tmpRoot, env: { GITHUB_WORKSPACE: tmpRoot } })
    assert.equal(r.status, 1)
    assertClean(r.stdout, 'github', { annotation: true })
    const ann = r.lines.filter((l) => l.startsWith('::'))
    assert.equal(ann.length, 8)
    assert.equal(ann[0], `::error file=${name},line=1,title=relay-check expectation::expected accept via smtp://u:***@h.example:25\\u001b[31m, got refuse 550 (far.test is not listed in relay_dest_domains.ini)`)
    assert.equal(ann[1], `::error file=${name},line=2,title=relay-check bad expectation::cannot read the expectation: '::error::injected' is not an IPv4 or IPv6 address`)
  })

  it('--format json: valid JSON that gives the text back, no password, no raw control', () => {
    const r = check([domains, '--expect', name, '--format', 'json'], { cwd: tmpRoot })
    assertClean(r.stdout, 'json')
    const doc = JSON.parse(r.stdout)
    const byLine = Object.fromEntries(doc.expectations.results.map((x) => [x.line, x]))
    assert.equal(byLine[1].text, '203.0.113.5 -> a@far.test: accept via smtp://u:***@h.example:25\u001b[31m')
    assert.equal(byLine[1].expected, 'accept via smtp://u:***@h.example:25\u001b[31m')
    assert.equal(byLine[6].text, '203.0.113.5\u0007\u0000 -> a@far.test: refuse')
    assert.equal(byLine[7].status, 'holds')
    assert.equal(byLine[8].text, '::warning::split by a CR')
    assert.equal(byLine[9].status, 'holds')
    assert.equal(byLine[9].recipient.route.nexthop, 'smtp://relay:***@smarthost.example:587')
    assert.equal(byLine[9].recipient.route.outbound.auth_pass, '***')
  })

  it('a hostile name of the expectation file', () => {
    const hostile = '::warning::x\u001b[2J##[y].txt'
    fs.writeFileSync(path.join(tmpRoot, hostile), '203.0.113.5 -> a@far.test: accept\n')
    const t = check([domains, '--expect', hostile], { cwd: tmpRoot })
    assertClean(t.stdout, 'text')
    assert.equal(t.lines[2], "\\u003a:warning::x\\u001b[2J\\u0023#[y].txt:1: expected accept, got refuse 550 (far.test is not listed in relay_dest_domains.ini)")
    const g = check([domains, '--expect', hostile, '--format', 'github'], { cwd: tmpRoot, env: { GITHUB_WORKSPACE: tmpRoot } })
    assertClean(g.stdout, 'github', { annotation: true })
    assert.ok(g.lines.includes('::error file=%3A%3Awarning%3A%3Ax\\u001b[2J\\u0023#[y].txt,line=1,title=relay-check expectation::expected accept, got refuse 550 (far.test is not listed in relay_dest_domains.ini)'), g.stdout)
    const missing = check([domains, '--expect', `${hostile}.nope`], { cwd: tmpRoot })
    assert.equal(missing.status, 2)
    assertClean(missing.stderr, 'stderr')
  })
})

describe('the example relay policy', () => {
  it('test/fixtures/expect/example/relay-policy.txt holds on its config', () => {
    const r = check([`${FIX}/example/config`, '--expect', `${FIX}/example/relay-policy.txt`, '--strict'])
    assert.equal(r.stderr, '')
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.lines.at(-1), /^test\/fixtures\/expect\/example\/relay-policy\.txt: (\d+) of \1 expectations hold$/)
  })
})
