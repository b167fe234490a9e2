'use strict'
// relay-check DIR --compare 1.0.2 (js/compare.js): "what changes if I
// switch?", on the configs of test/fixtures/compare/.
//  - the report as a user and a CI job get it (the real CLI in a child
//    process): exact lines, JSON, annotations, exit status;
//  - every example the report gives, asked of haraka-plugin-relay 1.0.2's
//    own hooks (test/support/relay-102.js: its code registered through
//    haraka-test-fixtures, its files read by haraka-config) and of
//    relay-wasm (js/decide.js): each must answer what the report says;
//  - the model of 1.0.2 in js/compare.js against 1.0.2's hooks on random
//    configs, and its readers against net.isIP, ipaddr.js and haraka-config.
//
//   node --test test/compare.test.js

const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { after, describe, it } = require('node:test')

const ipaddr = require('ipaddr.js')
const iniReader = require('haraka-config/lib/readers/ini.js')

const { relayCheck } = require('./support/relay-check')
const { relay102 } = require('./support/relay-102')
const { rng } = require('./support/rng')
const { readConfig } = require('../js/cli')
const { createEngine, FILES } = require('../js/engine')
const { decide } = require('../js/decide')
const { compareWith102, model102, internals } = require('../js/compare')
const { maskRoute, unsafeIn } = require('../js/safe-text')

iniReader.logger = () => {}

const REPO = path.resolve(__dirname, '..')
const FIX = 'test/fixtures/compare' // relative to REPO: the paths printed
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-compare-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const { check, json } = relayCheck(REPO)

/* The three texts of a config directory, an engine holding them, and the report. */
function load(dir) {
  const read = readConfig(path.resolve(REPO, dir))
  const texts = Object.fromEntries(FILES.map((f) => [f, read[f].text]))
  const engine = createEngine()
  for (const f of FILES) engine.load(f, read[f].text, read[f].diagnostics)
  return { texts, engine, report: compareWith102(engine, texts) }
}

/* The lines after relay-check's count line: the comparison. */
function comparisonLines(r) {
  const at = r.lines.findIndex((l) => /^(no problems|\d+ (error|warning|note))/.test(l))
  return r.lines.slice(at + 1)
}

// relay-wasm now reads a leading-dot key as every subdomain (issue 14 part
// 1).  The report says so only when the engine answers so: asked here the
// same way, so that these expectations follow the module in force.
const SUFFIX = (() => {
  const e = createEngine()
  e.load('relay_dest_domains.ini', '[domains]\n.example.edu = { "action": "accept" }\n')
  return e.rcpt('a.example.edu').line === 2
})()

const ACL_DIR = `${FIX}/acl/config`
const ACL_LINES = [
  `${ACL_DIR}/relay_acl_allow:2: wider: a client that arrives as an IPv4-mapped IPv6 address (PROXY, XCLIENT) is matched against the IPv4 entries here; 1.0.2 never matched it against them: client ::ffff:192.0.2.1 relays with relay-wasm (line 2), not with 1.0.2 [acl-mapped-client]`,
  `${ACL_DIR}/relay_acl_allow:4: narrower: '2001:db8::1' is one host here (/128); 1.0.2 appended /32: 2001:db8::/32 (2^96 addresses): client 2001:db8:ffff::1 relays with 1.0.2 (line 4), not with relay-wasm [acl-ipv6-bare]`,
  `${ACL_DIR}/relay_acl_allow:5: narrower: relay-wasm refuses '198.51.100.0/33' [acl-bad-prefix]; 1.0.2 read it as 198.51.100.0/32 (one host: a mask of 33 compares all 32 bits): client 198.51.100.0 relays with 1.0.2 (line 5), not with relay-wasm [acl-refused-line]`,
  `${ACL_DIR}/relay_acl_allow:6: narrower: relay-wasm refuses '198.51.100.64/26 office' [acl-bad-prefix]; 1.0.2 read it as 198.51.100.64/26 (2^6 addresses): client 198.51.100.127 relays with 1.0.2 (line 6), not with relay-wasm [acl-refused-line]`,
  `${ACL_DIR}/relay_acl_allow:7: narrower: relay-wasm refuses '203.0.113.0/024' [acl-bad-prefix]; 1.0.2 read it as 203.0.113.0/24 (2^8 addresses): client 203.0.113.255 relays with 1.0.2 (line 7), not with relay-wasm [acl-refused-line]`,
  `${ACL_DIR}/relay_acl_allow:9: wider: '::ffff:100.64.0.0/112' is an IPv4 block here, for IPv4 clients too; 1.0.2 matched only IPv6 clients against it: client 100.64.255.255 relays with relay-wasm (line 9), not with 1.0.2 [acl-mapped-entry]`,
  `${ACL_DIR}/relay_acl_allow:10: narrower: relay-wasm refuses 'fe80::1%eth0' [acl-bad-address]; 1.0.2 read it as fe80::/32 (2^96 addresses): client fe80:0:ffff::1 relays with 1.0.2 (line 10), not with relay-wasm [acl-refused-line]`,
  `compared with haraka-plugin-relay 1.0.2: 7 differences (5 narrower, 2 wider) in ${ACL_DIR}/`,
]

const ZERO_DIR = `${FIX}/acl-zero/config`
const ZERO_LINES = [
  `${ZERO_DIR}/relay_acl_allow:2: wider: '0.0.0.0/0' is every IPv4 address here; 1.0.2 read the /0 as /32: 0.0.0.0/32 (one host): client 203.0.113.5 relays with relay-wasm (line 2), not with 1.0.2 [acl-zero-prefix]`,
  `${ZERO_DIR}/relay_acl_allow:2: wider: a client that arrives as an IPv4-mapped IPv6 address (PROXY, XCLIENT) is matched against the IPv4 entries here; 1.0.2 never matched it against them: client ::ffff:203.0.113.5 relays with relay-wasm (line 2), not with 1.0.2 [acl-mapped-client]`,
  `compared with haraka-plugin-relay 1.0.2: 2 differences (2 wider) in ${ZERO_DIR}/`,
]

const DOM_DIR = `${FIX}/domains/config`
const DOM_LINES = [
  `${DOM_DIR}/relay.ini: route: force_routing is not set in relay.ini: 1.0.2's code defaults it to true, relay-wasm to false (the manual's default), so the nexthops of relay_dest_domains.ini are no longer used: mail for someone@partner.test goes to 192.0.2.25:2525 with 1.0.2, goes by MX with relay-wasm; the entries whose nexthop 1.0.2 used: partner.test (line 3), every domain without an entry (any, line 9) [force-routing-default]`,
  `${DOM_DIR}/relay_dest_domains.ini:2: narrower: with dest_domains=true, 1.0.2 lets a client that names a domain of an accept or continue entry (3 entries: line 2, 3, 8) relay to anyone for the rest of that transaction; relay-wasm decides each recipient on its own: 203.0.113.5 sends to someone@example.com, then someone@far.test: 1.0.2 accepts it (250), then accepts it (250: the transaction relays since the first recipient); relay-wasm accepts it (250), then refuses it (550 "You are not allowed to relay") [transaction-grant]`,
  `${DOM_DIR}/relay_dest_domains.ini:5: wider: 'Example.NET' never matched in 1.0.2 (it looks up the lower-cased domain); relay-wasm matches keys in any case: someone@example.net from 203.0.113.5: 1.0.2 refuses it (550 "You are not allowed to relay"); relay-wasm accepts it (250) [key-case]`,
  ...(SUFFIX
    ? [
        `${DOM_DIR}/relay_dest_domains.ini:6: wider: '.example.edu' never matched in 1.0.2; relay-wasm reads it as every subdomain of example.edu (a.example.edu, b.a.example.edu, ...): someone@a.example.edu from 203.0.113.5: 1.0.2 refuses it (550 "You are not allowed to relay"); relay-wasm accepts it (250) [key-suffix]`,
      ]
    : []),
  `${DOM_DIR}/relay_dest_domains.ini:7: narrower: 1.0.2's JSON.parse throws at RCPT time on the value of 'broken.example'; relay-wasm refused it when the file was loaded: someone@broken.example from 203.0.113.5: 1.0.2 throws (SyntaxError from JSON.parse, logged at CRIT) and leaves it to other rcpt plugins (550 "I cannot deliver mail for <someone@broken.example>" unless one accepts it); relay-wasm refuses it (550 "Mail for that recipient is not accepted here.") [dest-json-throws]`,
  `${DOM_DIR}/relay_dest_domains.ini:8: narrower: relay-wasm refuses the entry for deep.example [dest-too-deep] where 1.0.2 acted on it: someone@deep.example from 203.0.113.5: 1.0.2 accepts it (250); relay-wasm refuses it (550 "Mail for that recipient is not accepted here.") [dest-refused-entry]`,
  `compared with haraka-plugin-relay 1.0.2: ${SUFFIX ? '6 differences (3 narrower, 2 wider, 1 route)' : '5 differences (3 narrower, 1 wider, 1 route)'} in ${DOM_DIR}/`,
]

const ROUTE_DIR = `${FIX}/routes/config`
const ROUTE_LINES = [
  `${ROUTE_DIR}/relay_dest_domains.ini:2: route: 'Partner.TEST' never matched in 1.0.2 (it looks up the lower-cased domain); relay-wasm matches keys in any case: mail for someone@partner.test goes to smtp://relay:***@smarthost.example:587 with 1.0.2, goes to 192.0.2.25:2525 with relay-wasm [key-case]`,
  ...(SUFFIX
    ? [
        `${ROUTE_DIR}/relay_dest_domains.ini:3: route: '.partner.example' never matched in 1.0.2; relay-wasm routes every subdomain of partner.example (a.partner.example, b.a.partner.example, ...) by it: mail for someone@a.partner.example goes to smtp://relay:***@smarthost.example:587 with 1.0.2, goes to 192.0.2.26 with relay-wasm [key-suffix]`,
      ]
    : []),
  `${ROUTE_DIR}/relay_dest_domains.ini:4: route: relay-wasm cannot use the route of 'badport.example' and defers its mail; 1.0.2 handed outbound what the file says: mail for someone@badport.example goes to mx.badport.example:70000 with 1.0.2, is deferred (the route cannot be used: nexthop: port out of range 1-65535 (Haraka would silently drop it)) with relay-wasm [route-deferred]`,
  `${ROUTE_DIR}/relay_dest_domains.ini:5: route: 1.0.2's JSON.parse throws at delivery (get_mx) on the value of 'broken.example'; relay-wasm refused it when the file was loaded: mail for someone@broken.example goes by MX (get_mx throws a SyntaxError from JSON.parse, logged at CRIT) with 1.0.2, is deferred (the route cannot be used: the entry cannot be read, so the route it meant is not known) with relay-wasm [dest-json-throws]`,
  `compared with haraka-plugin-relay 1.0.2: ${SUFFIX ? '4 differences (4 route)' : '3 differences (3 route)'} in ${ROUTE_DIR}/`,
]

// the rarer kinds: the codes each config must report (its examples are
// checked against 1.0.2's hooks below, as those of every fixture)
const MORE = {
  'acl-throws': [
    [2, 'wider', 'acl-throws'],
    [4, 'narrower', 'acl-refused-line'],
  ],
  entries: [
    [2, 'narrower', 'dest-refused-entry'],
    [3, 'narrower', 'dest-refused-entry'],
    [4, 'narrower', 'dest-refused-entry'],
    [6, 'narrower', 'key-conflict'],
    [7, 'narrower', 'transaction-grant'],
    [8, 'narrower', 'key-conflict'],
  ],
  settings: [
    [2, 'narrower', 'setting-all'],
    [3, 'route', 'setting-force_routing'],
  ],
  'no-section': [[0, 'narrower', 'dest-no-section']],
}
const FIXTURES = ['none', 'acl', 'acl-zero', 'domains', 'routes', ...Object.keys(MORE)].map((name) => `${FIX}/${name}/config`)

describe('relay-check --compare 1.0.2: the report', () => {
  it('a config on which nothing differs: "no differences", exit 0', () => {
    const dir = `${FIX}/none/config`
    const r = check([dir, '--compare', '1.0.2'])
    assert.equal(r.stderr, '')
    assert.equal(r.status, 0)
    assert.deepEqual(r.lines, [
      'settings: acl=true force_routing=true dest_domains=true all=false',
      `no problems in ${dir}/`,
      `compared with haraka-plugin-relay 1.0.2: no differences in ${dir}/`,
    ])
  })

  it('ACL lines 1.0.2 read otherwise: each line, its example client and its direction; exit 1', () => {
    const r = check([ACL_DIR, '--compare', '1.0.2'])
    assert.equal(r.stderr, '')
    assert.equal(r.status, 1)
    assert.deepEqual(comparisonLines(r), ACL_LINES)
  })

  it('/0: the whole internet here, /32 in 1.0.2; a config with warnings only still exits 1 when something differs', () => {
    const r = check([ZERO_DIR, '--compare', '1.0.2'])
    assert.equal(r.status, 1)
    assert.deepEqual(r.lines.slice(0, 3), [
      `${ZERO_DIR}/relay_acl_allow:2:1: warning: '0.0.0.0/0' lets every IPv4 address on the internet relay: an open relay [acl-whole-internet]`,
      'settings: acl=true force_routing=false dest_domains=false all=false',
      `1 warning in ${ZERO_DIR}/`,
    ])
    assert.deepEqual(comparisonLines(r), ZERO_LINES)
    // without --compare the same config exits 0 (a warning)
    assert.equal(check([ZERO_DIR]).status, 0)
  })

  it('relay_dest_domains.ini: the transaction rule, keys 1.0.2 never matched, force_routing left unset, JSON it threw on, entries refused here', () => {
    const r = check([DOM_DIR, '--compare', '1.0.2'])
    assert.equal(r.stderr, '')
    assert.equal(r.status, 1)
    assert.deepEqual(comparisonLines(r), DOM_LINES)
  })

  it('routes with force_routing=true: keys in other cases, suffix keys, routes relay-wasm defers; no password is printed', () => {
    const r = check([ROUTE_DIR, '--compare', '1.0.2'])
    assert.equal(r.status, 1)
    assert.deepEqual(comparisonLines(r), ROUTE_LINES)
    assert.ok(!r.stdout.includes('secret'), r.stdout)
  })

  it('--format json: the same items, with the example and each side\'s answer; passwords masked', () => {
    const { doc, status, stdout } = json([DOM_DIR, '--compare', '1.0.2'])
    assert.equal(status, 1)
    const c = doc.comparison
    assert.equal(c.with, 'haraka-plugin-relay 1.0.2')
    assert.deepEqual([c.differences, c.narrower, c.wider, c.route], SUFFIX ? [6, 3, 2, 1] : [5, 3, 1, 1])
    assert.deepEqual(
      c.items.map((i) => [i.path, i.line, i.direction, i.code]),
      [
        [`${DOM_DIR}/relay.ini`, 0, 'route', 'force-routing-default'],
        [`${DOM_DIR}/relay_dest_domains.ini`, 2, 'narrower', 'transaction-grant'],
        [`${DOM_DIR}/relay_dest_domains.ini`, 5, 'wider', 'key-case'],
        ...(SUFFIX ? [[`${DOM_DIR}/relay_dest_domains.ini`, 6, 'wider', 'key-suffix']] : []),
        [`${DOM_DIR}/relay_dest_domains.ini`, 7, 'narrower', 'dest-json-throws'],
        [`${DOM_DIR}/relay_dest_domains.ini`, 8, 'narrower', 'dest-refused-entry'],
      ],
    )
    // each item's text is the text format's line
    const text = DOM_LINES.slice(0, -1)
    c.items.forEach((i, k) => assert.equal(`${i.path}:${i.line ? `${i.line}:` : ''} ${i.direction}: ${i.message} [${i.code}]`, text[k]))
    const grant = c.items.find((i) => i.code === 'transaction-grant')
    assert.deepEqual(grant.example, { client: '203.0.113.5', recipients: ['someone@example.com', 'someone@far.test'] })
    assert.deepEqual(grant.lines, [2, 3, 8])
    assert.deepEqual(
      grant.haraka_plugin_relay.recipients.map((a) => [a.code, a.by]),
      [
        [250, 'accept'],
        [250, 'grant'],
      ],
    )
    assert.deepEqual(
      grant.relay_wasm.recipients.map((a) => [a.code, a.by, a.message]),
      [
        [250, 'dest-accept', undefined],
        [550, 'dest-unlisted', 'You are not allowed to relay'],
      ],
    )
    const routing = c.items[0]
    assert.deepEqual(routing.routes, [
      { key: 'partner.test', line: 3, nexthop: '192.0.2.25:2525' },
      { key: 'any', line: 9, nexthop: 'smtp://relay:***@smarthost.example:587' },
    ])
    if (SUFFIX) assert.deepEqual(c.items[3].covers, ['a.example.edu', 'b.a.example.edu'])
    assert.ok(!stdout.includes('secret'))
    for (const line of stdout.split('\n')) assert.equal(unsafeIn(line), null, line)
  })

  it('--format github: an annotation at the file and line of each difference (wider and route: warning, narrower: notice), then the summary', () => {
    const r = check([ACL_DIR, '--compare', '1.0.2', '--format', 'github'])
    assert.equal(r.status, 1)
    const mine = r.lines.filter((l) => l.includes('title=relay-check 1.0.2 '))
    const codeOf = (l) => /\[([a-z0-9-]+)\]$/.exec(l)[1]
    assert.deepEqual(
      mine.map((l) => /^::(\w+) file=([^,]+),line=(\d+),title=relay-check 1\.0\.2 (\w+) ([a-z0-9-]+)::/.exec(l).slice(1)),
      [
        ['warning', `${ACL_DIR}/relay_acl_allow`, '2', 'wider', 'acl-mapped-client'],
        ['notice', `${ACL_DIR}/relay_acl_allow`, '4', 'narrower', 'acl-ipv6-bare'],
        ['notice', `${ACL_DIR}/relay_acl_allow`, '5', 'narrower', 'acl-refused-line'],
        ['notice', `${ACL_DIR}/relay_acl_allow`, '6', 'narrower', 'acl-refused-line'],
        ['notice', `${ACL_DIR}/relay_acl_allow`, '7', 'narrower', 'acl-refused-line'],
        ['warning', `${ACL_DIR}/relay_acl_allow`, '9', 'wider', 'acl-mapped-entry'],
        ['notice', `${ACL_DIR}/relay_acl_allow`, '10', 'narrower', 'acl-refused-line'],
      ],
    )
    mine.forEach((l, k) => assert.equal(codeOf(l), codeOf(ACL_LINES[k])))
    assert.equal(r.lines.at(-1), ACL_LINES.at(-1))
    for (const l of r.lines) assert.equal(unsafeIn(l, { annotation: l.startsWith('::') }), null, l)
    // relay.ini, no line: the file alone
    const g = check([DOM_DIR, '--compare', '1.0.2', '--format', 'github'])
    assert.ok(g.lines.some((l) => l.startsWith(`::warning file=${DOM_DIR}/relay.ini,title=relay-check 1.0.2 route force-routing-default::route: force_routing is not set`)))
  })

  for (const [name, expected] of Object.entries(MORE)) {
    it(`${name}: ${expected.map((e) => e[2]).join(', ')}`, () => {
      const { doc, status } = json([`${FIX}/${name}/config`, '--compare', '1.0.2'])
      assert.equal(status, 1)
      assert.deepEqual(
        doc.comparison.items.map((i) => [i.line, i.direction, i.code]),
        expected,
      )
    })
  }

  it('config errors keep their exit status; usage problems are 2', () => {
    // 300.1.1.1 is dropped by both: an error, and nothing differs
    const dir = path.join(tmpRoot, 'err')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'relay_acl_allow'), '300.1.1.1\n2001:db8::/32\n')
    const r = check([dir, '--compare', '1.0.2'])
    assert.equal(r.status, 1)
    assert.equal(r.lines.at(-1), `compared with haraka-plugin-relay 1.0.2: no differences in ${dir}/`)
    // a warning: exit 0, or 1 with --strict
    const w = path.join(tmpRoot, 'warn')
    fs.mkdirSync(w)
    fs.writeFileSync(path.join(w, 'relay.ini'), '[relay]\nforce_routing=false\n')
    fs.writeFileSync(path.join(w, 'relay_dest_domains.ini'), '[domains]\nexample.org = { "action": "deny" }\n')
    assert.equal(check([w, '--compare', '1.0.2']).status, 0)
    assert.equal(check([w, '--compare', '1.0.2', '--strict']).status, 1)
    const bad = check([ACL_DIR, '--compare', '1.0.3'])
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr, "relay-check: --compare takes 1.0.2, the release of haraka-plugin-relay it knows (got '1.0.3')\nTry 'relay-check --help'.\n")
    const both = check([ACL_DIR, '--compare', '1.0.2', '--ip', '192.0.2.1'])
    assert.equal(both.status, 2)
    assert.match(both.stderr, /--compare, --expect and --ip ask different questions/)
  })
})

/* ---- against 1.0.2's own code ------------------------------------------- */

/* What 1.0.2's hooks answer for an example of the report. */
async function realAnswer(old, item) {
  const ex = item.example
  if (ex.client && !ex.recipients) return { acl: await old.session(ex.client, []) }
  if (ex.client) return { rcpt: await old.session(ex.client, ex.recipients) }
  return { route: await old.route(ex.domain) }
}

function wasmAnswer(engine, item) {
  const ex = item.example
  if (ex.client) return decide(engine, { ip: ex.client, rcpts: ex.recipients || [] })
  return null
}

// how the model's `by` shows in Haraka: the hook that answered OK, or CONT with relaying
const VIA = (by, all) => ({ accept: 'dest_domains', all: 'all', continue: all ? 'all' : 'relaying', grant: all ? 'all' : 'relaying', acl: all ? 'all' : 'relaying' })[by] ?? null

describe('relay-check --compare 1.0.2: each example against haraka-plugin-relay 1.0.2 and relay-wasm', () => {
  for (const dir of FIXTURES) {
    it(`${dir}: 1.0.2's hooks and decide() answer what the report says`, async () => {
      const { engine, report, texts } = load(dir)
      const old = relay102(path.dirname(path.resolve(REPO, dir)))
      const model = model102(texts)
      // the hooks test the switches for truth (a name[] key makes a list)
      const truth = (cfg) => Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, !!v]))
      assert.deepEqual(truth(old.plugin.cfg.relay), model.settings, "1.0.2's relay.ini")
      for (const item of report.items) {
        const where = `${item.code} at ${item.file}:${item.line}`
        const real = await realAnswer(old, item)
        if (real.acl) {
          const t = item.haraka_plugin_relay
          assert.equal(real.acl.relays, t.relays, `1.0.2: ${where}`)
          assert.equal(real.acl.thrown.length > 0, !!t.throws_at, `1.0.2 throws: ${where}`)
          const c = wasmAnswer(engine, item).client
          assert.equal(c.relay, item.relay_wasm.relays, `relay-wasm: ${where}`)
          assert.equal(c.relay ? c.line : 0, item.relay_wasm.line, `relay-wasm line: ${where}`)
          assert.equal(item.direction, c.relay ? 'wider' : 'narrower')
          assert.notEqual(real.acl.relays, c.relay, `the two differ: ${where}`)
        } else if (real.rcpt) {
          const t = item.haraka_plugin_relay.recipients
          assert.equal(real.rcpt.recipients.length, t.length)
          real.rcpt.recipients.forEach((a, k) => {
            assert.equal(a.code, t[k].code, `1.0.2 code: ${where} #${k}`)
            assert.equal(a.accepted, t[k].accepted, `1.0.2: ${where} #${k}`)
            if (!a.accepted) assert.equal(a.message, t[k].message, `1.0.2 text: ${where} #${k}`)
            else assert.equal(a.via, VIA(t[k].by, model.settings.all), `1.0.2 via: ${where} #${k}`)
            assert.equal(a.thrown.length > 0, !!t[k].throws, `1.0.2 throws: ${where} #${k}`)
          })
          const o = wasmAnswer(engine, item).recipients
          o.forEach((a, k) => {
            const w = item.relay_wasm.recipients[k]
            assert.deepEqual([a.code, a.accepted, a.reason, a.accepted ? undefined : a.message], [w.code, w.accepted, w.by, w.message], `relay-wasm: ${where} #${k}`)
          })
          // the direction: how far each accepts the last recipient (0 refused,
          // 1 by continue: a later rcpt plugin may still refuse it, 2 accepted)
          const last = o.length - 1
          const all = engine.settings().all
          const theirs = real.rcpt.recipients[last]
          const rank102 = !theirs.accepted ? 0 : theirs.via === 'relaying' && last === 0 ? 1 : 2
          const rankWasm = !o[last].accepted ? 0 : o[last].reason === 'dest-continue' && !all ? 1 : 2
          if (item.direction === 'narrower') assert.ok(rankWasm < rank102 || theirs.thrown.length, where)
          if (item.direction === 'wider') assert.ok(rankWasm > rank102, where)
        } else {
          const t = item.haraka_plugin_relay
          assert.equal(real.route.route, t.route, `1.0.2 route: ${where}`)
          assert.deepEqual(maskRoute(real.route.nexthop), t.nexthop, `1.0.2 nexthop: ${where}`)
          assert.equal(real.route.thrown.length > 0, !!t.throws, `1.0.2 throws: ${where}`)
          const s = engine.settings()
          const r = s.force_routing ? engine.route(item.example.domain) : { status: 'mx' }
          const status = { mx: 'mx', nexthop: 'nexthop', invalid: 'deferred' }[r.status]
          assert.equal(status, item.relay_wasm.route, `relay-wasm route: ${where}`)
          assert.deepEqual(maskRoute(r.nexthop), item.relay_wasm.nexthop, `relay-wasm nexthop: ${where}`)
          assert.ok(status !== real.route.route || JSON.stringify(r.nexthop) !== JSON.stringify(real.route.nexthop), `the two differ: ${where}`)
        }
      }
    })
  }

  it('none/config: 1.0.2 and relay-wasm agree on the clients and recipients it names', async () => {
    const dir = `${FIX}/none/config`
    const { engine } = load(dir)
    const old = relay102(path.dirname(path.resolve(REPO, dir)))
    for (const ip of ['2001:db8:1::5', '2001:db8:2::7', '2001:db8:2::8', '203.0.113.5']) {
      const rcpts = ['a@example.org', 'a@partner.test', 'a@far.test']
      const real = await old.session(ip, rcpts)
      const ours = decide(engine, { ip, rcpts })
      assert.equal(real.relays, ours.client.relay, ip)
      assert.deepEqual(
        real.recipients.map((a) => a.code),
        ours.recipients.map((a) => a.code),
        ip,
      )
    }
    for (const domain of ['partner.test', 'example.org', 'far.test']) {
      const real = await old.route(domain)
      const r = engine.route(domain)
      assert.deepEqual([real.route, real.nexthop], [r.status, r.nexthop], domain)
    }
  })
})

/* ---- the model of 1.0.2 against 1.0.2's code, on random configs --------- */

let dirCount = 0
function writeConfig(files) {
  const root = path.join(tmpRoot, `r${++dirCount}`)
  fs.mkdirSync(path.join(root, 'config'), { recursive: true })
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(root, 'config', name), text)
  return root
}

const SEED = Number(process.env.RELAY_COMPARE_SEED || 20261128)

describe('the model of 1.0.2 in js/compare.js against its own code', () => {
  it("net.isIP and ipaddr.parse: the model's readings of addresses", () => {
    const r = rng(SEED)
    const bits = ['1', '0', 'ff', 'ffff', 'fffff', '::', ':', '192.0.2.1', '010.1.1.1', '256.1.1.1', '%eth0', '%eth0.1', '%a-b', '%', '.', 'g', '0:0', '1.2.3', ' ', '::ffff:', 'ffff:']
    let n = 0
    for (let i = 0; i < 40000; i++) {
      let s = ''
      for (let k = 1 + r.int(7); k > 0; k--) s += r.pick(bits)
      if (i % 4 === 0) s = `${r.pick(['::', '::ffff:', '2001:db8::', '1:2:3:4:5:6:'])}${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}${r() < 0.3 ? r.pick(['%eth0', '%x.y']) : ''}`
      assert.equal(internals.isIP(s), net.isIP(s) !== 0, JSON.stringify(s))
      if (!net.isIP(s)) continue
      let theirs
      try {
        theirs = ipaddr.parse(s).toByteArray()
      } catch {
        theirs = null
      }
      const ours = internals.ipaddrParse(s)
      assert.deepEqual(ours && ours.bytes, theirs, JSON.stringify(s))
      n++
    }
    assert.ok(n > 5000, `${n} addresses`)
  })

  it("haraka-config's INI reader: the model's sections, keys and values", () => {
    const r = rng(SEED + 1)
    const rows = ['[relay]', '[ domains ]', '[main]', '[__proto__]', '; c', '# c', '', '  ', 'acl=false', 'acl = yes', 'force_routing', 'force_routing[] = true', 'all=1', 'dest_domains = on\\', '  true', 'a.example = { "action": "accept" }', 'A.example=5', 'b.example = 1.5', 'c.example[] = x', 'constructor = 1', 'bad line !', 'x = \\', '[x] y', 'k=v ; not a comment']
    for (let i = 0; i < 3000; i++) {
      const text = Array.from({ length: 1 + r.int(12) }, () => r.pick(rows)).join(r.pick(['\n', '\r\n', '\r']))
      const booleans = ['+relay.acl', '+relay.force_routing', '-relay.all', '-relay.dest_domains']
      const theirs = iniReader.parseIni('relay.ini', { booleans }, text)
      const ours = internals.readIni(text, [
        { section: 'relay', key: 'acl', default: true },
        { section: 'relay', key: 'force_routing', default: true },
        { section: 'relay', key: 'all', default: false },
        { section: 'relay', key: 'dest_domains', default: false },
      ]).sections
      assert.deepEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)), JSON.stringify(text))
    }
  })

  it('relay_acl_allow: which clients relay, on random lists with the lines 1.0.2 reads oddly', async () => {
    const r = rng(SEED + 2)
    const v4 = () => `${r.pick([192, 198, 203, 10, 0])}.${r.pick([0, 51, 113, 255])}.${r.pick([2, 100, 0])}.${r.int(256)}`
    const v6 = () => r.pick(['2001:db8::', '2001:db8:1::', 'fe80::', '::', '::ffff:']) + r.pick(['1', '7', 'ffff', '192.0.2.9', '0'])
    const line = () => {
      const roll = r()
      const addr = roll < 0.5 ? v4() : v6()
      return (
        r.pick(['', '', '# ', ' ', '; ']) +
        addr +
        r.pick(['', '', '/', '/0', '/24', '/33', '/-1', '/024', '/24 junk', '/abc', '/48', '/129', '/1e3', '/ 16', '%eth0', '%eth0.1', '/32/8', ' # note']) +
        r.pick(['', '', '\t'])
      )
    }
    let cases = 0
    const seen = { relays: 0, throws: 0 }
    for (let i = 0; i < 80; i++) {
      const text = Array.from({ length: 1 + r.int(8) }, line).join('\n')
      const old = relay102(writeConfig({ 'relay.ini': '[relay]\nforce_routing=false\n', relay_acl_allow: text }))
      const model = model102({ 'relay.ini': '[relay]\nforce_routing=false\n', relay_acl_allow: text, 'relay_dest_domains.ini': '' })
      const clients = new Set(['203.0.113.5', '::ffff:192.0.2.9', '2001:db8:ffff::1'])
      for (let k = 0; k < 12; k++) clients.add(r() < 0.5 ? v4() : ipaddr.parse(v6()).toString())
      // near each entry: its address with one bit flipped, so that every
      // mask length is told apart
      for (const row of text.split('\n')) {
        const addr = row.replace(/^[#; ]+/, '').split(/[/%# \t]/)[0]
        if (!ipaddr.isValid(addr)) continue
        const bytes = ipaddr.parse(addr).toByteArray()
        for (let k = 0; k < 3; k++) {
          const bit = r.int(bytes.length * 8)
          const near = bytes.slice()
          near[bit >> 3] ^= 0x80 >> (bit & 7)
          clients.add(ipaddr.fromByteArray(near).toString())
        }
      }
      for (const ip of clients) {
        if (ip.includes('.') && ip.includes(':') && !ip.startsWith('::ffff:')) continue
        const real = await old.session(ip, [])
        const m = model.client(ip)
        assert.equal(m.relay, real.relays, `${JSON.stringify(text)} client ${ip}`)
        assert.equal(!!m.throwsAt && !m.relay, real.thrown.length > 0 && !real.relays, `throws: ${JSON.stringify(text)} client ${ip}`)
        cases++
        if (real.relays) seen.relays++
        if (real.thrown.length) seen.throws++
      }
    }
    assert.ok(cases > 800, `${cases} cases`)
    // the paths that matter were taken: clients that relay, checks that throw
    assert.ok(seen.relays > 50 && seen.throws > 10, JSON.stringify(seen))
    console.log(`model check: ${cases} cases, ${JSON.stringify(seen)}`)
  })

  it('relay_dest_domains.ini and relay.ini: each answer of a transaction and each route, on random files', async () => {
    const r = rng(SEED + 3)
    const keys = ['a.example', 'A.example', 'b.example', 'c.example', '.a.example', 'any', 'c.example[]']
    const values = [
      '{ "action": "accept" }',
      '{ "action": "continue", "nexthop": "192.0.2.25:2525" }',
      '{ "action": "deny" }',
      '{ "action": "acept" }',
      '{ "nexthop": ["192.0.2.30", "lmtp://192.0.2.31:24"] }',
      '{action: accept}',
      'null',
      '5',
      '0',
      '"text"',
      '',
      '{ "action": "accept", "nexthop": "smtp://u:pw@192.0.2.9:587" }',
    ]
    const ini = ['[relay]', 'dest_domains=true', 'force_routing=true', 'all=true', 'acl=false', 'force_routing=false']
    let cases = 0
    const seen = { grant: 0, throws: 0, nexthop: 0, routeThrows: 0 }
    for (let i = 0; i < 120; i++) {
      const rows = ['[domains]']
      for (let k = 1 + r.int(6); k > 0; k--) rows.push(`${r.pick(keys)} = ${r.pick(values)}`)
      if (r() < 0.1) rows[0] = '[other]'
      const domains = rows.join('\n')
      const relayIni = ['[relay]', ...(r() < 0.7 ? ['dest_domains=true'] : []), ...Array.from({ length: r.int(4) }, () => r.pick(ini))].join('\n')
      const files = { 'relay.ini': relayIni, relay_acl_allow: '192.0.2.0/24\n', 'relay_dest_domains.ini': domains }
      const old = relay102(writeConfig(files))
      const model = model102(files)
      assert.deepEqual(Object.fromEntries(Object.entries(old.plugin.cfg.relay).map(([k, v]) => [k, !!v])), model.settings, relayIni)
      for (let t = 0; t < 4; t++) {
        const ip = r() < 0.2 ? '192.0.2.7' : '203.0.113.5'
        const rcpts = Array.from({ length: 1 + r.int(3) }, () => `u@${r.pick(['a.example', 'b.example', 'c.example', 'x.a.example', 'far.test', 'any'])}`)
        const real = await old.session(ip, rcpts)
        const m = model.rcpts(ip, rcpts)
        const where = `${JSON.stringify(files)} ${ip} ${rcpts.join(' ')}`
        real.recipients.forEach((a, k) => {
          assert.equal(m[k].code, a.code, where)
          if (!a.accepted) assert.equal(m[k].message, a.message, where)
          else assert.equal(VIA(m[k].by, model.settings.all), a.via, where)
          assert.equal(!!m[k].error, a.thrown.length > 0, where)
          cases++
          if (m[k].by === 'grant') seen.grant++
          if (m[k].error) seen.throws++
        })
      }
      for (const domain of ['a.example', 'b.example', 'c.example', 'x.a.example', 'far.test']) {
        const real = await old.route(domain)
        const m = model.route(domain)
        assert.deepEqual([m.route, m.nexthop, !!m.error], [real.route, real.nexthop, real.thrown.length > 0], `${JSON.stringify(files)} ${domain}`)
        cases++
        if (m.route === 'nexthop') seen.nexthop++
        if (m.error) seen.routeThrows++
      }
    }
    assert.ok(cases > 1000, `${cases} cases`)
    // recipients let through by an earlier one, hooks that throw, routes
    assert.ok(Object.values(seen).every((n) => n > 10), JSON.stringify(seen))
    console.log(`model check: ${cases} cases, ${JSON.stringify(seen)}`)
  })
})
