/*
 * make-cases.js - writes test/matrix/cases.json, the conformance table that
 * every runtime and build of relay.wasm must answer (scripts/matrix.js).
 *
 *   node test/matrix/make-cases.js          rewrite cases.json
 *   node test/matrix/make-cases.js --check  fail when cases.json is not what
 *                                           this script writes, or when
 *                                           wasm/relay.wasm on this Node does
 *                                           not answer as it says
 *
 * No expectation here comes from relay.wasm.  The inputs are the cases below
 * plus every committed set of test/fixtures/bad (their files as the plugin
 * reads them, UTF-8); the expected answers come from
 *   - test/support/reference.js: settings as haraka-config reads relay.ini,
 *     the ACL read with ipaddr.js, relay_dest_domains.ini walked with
 *     haraka-config's own regexes and read as haraka-plugin-relay 1.0.2
 *     reads it (JSON.parse, its routing), with README's deliberate
 *     differences as rules;
 *   - the hand-written expect.json of each fixture (diagnostics, and the
 *     decisions it names, which must agree with the reference: when they do
 *     not, this script stops and says where);
 *   - hand-reasoned entries below, each with its reason: the diagnostics of
 *     the cases below, and the routes outbound cannot read (README
 *     difference 7: 1.0.2 hands any text to outbound, so no reference can
 *     say which ones are refused).
 * Severities are README's table (SEVERITY).  After a deliberate change of
 * behaviour, change the reference or the hand-written entries, rewrite the
 * table and review the diff.
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const suite = require('./suite')
const { settingsOf, aclOf, domainsOf } = require('../support/reference')

const ROOT = path.join(__dirname, '..', '..')
const OUT = path.join(__dirname, 'cases.json')
const BAD = path.join(__dirname, '..', 'fixtures', 'bad')
const ORDER = ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']
const [INI, ACL, DOMAINS] = ORDER

const CLIENTS = ['127.0.0.1', '192.0.2.1', '192.0.2.200', '::ffff:192.0.2.1', '10.0.0.1', '2001:db8::1', '::1', '0.0.0.0', 'not-an-ip']
const QUESTIONS = ['example.com', 'EXAMPLE.NET', 'example.org', 'any', 'other.example']

const ON = '[relay]\nacl = true\ndest_domains = true\nforce_routing = true\n'

/* README "Diagnostics": the severity of each code.  dest-bad-nexthop is an
 * error with force_routing on and a warning with it off; too-many-
 * diagnostics is given by each case. */
const SEVERITY = {
  'acl-bad-address': 'error',
  'acl-bad-prefix': 'error',
  'acl-whole-internet': 'warning',
  'acl-wide-range': 'warning',
  'acl-host-bits': 'warning',
  'acl-duplicate': 'info',
  'acl-too-many-lines': 'error',
  'ini-invalid-line': 'error',
  'ini-control-char': 'error',
  'ini-dangling-continuation': 'error',
  'ini-unsafe-key': 'warning',
  'ini-array-key': 'error',
  'ini-unknown-section': 'warning',
  'ini-unknown-key': 'warning',
  'ini-not-boolean': 'warning',
  'ini-duplicate-key': 'warning',
  'dest-conflicting-key': 'error',
  'dest-no-value': 'error',
  'dest-bad-json': 'error',
  'dest-not-object': 'error',
  'dest-nul-char': 'error',
  'dest-too-deep': 'error',
  'dest-bad-action': 'error',
  'dest-unknown-key': 'warning',
  'dest-bad-domain': 'warning',
  'open-relay': 'warning',
  'nexthop-unused': 'warning',
  'dest-domains-off': 'warning',
  'text-encoding': 'warning',
}

/* "At most 1000 per file are listed; the rest are counted in one last
 * line" (README): the first 1000 of `all` (in line order) and one
 * too-many-diagnostics for the file as a whole (line 0). */
function capped(file, all) {
  if (all.length <= 1000) return all
  return [...all.slice(0, 1000), [file, 0, 'too-many-diagnostics', 'error']]
}

/* The diagnostics of the generated texts of suite.js, by their rule. */
const GENERATED_DIAGNOSTICS = {
  // every third line (i % 3 == 2) is 10.x.y.300: not an address
  'acl-lines': ({ lines }) => {
    const out = []
    for (let i = 2; i < lines; i += 3) out.push([ACL, i + 1, 'acl-bad-address'])
    return capped(ACL, out)
  },
  // after [domains] on line 1, every odd entry (line i + 2) is cut JSON
  'domains-lines': ({ lines }) => {
    const out = []
    for (let i = 1; i < lines; i += 2) out.push([DOMAINS, i + 2, 'dest-bad-json'])
    return capped(DOMAINS, out)
  },
}

/* Hand-written cases.  diagnostics: [file, line, code] (or a generator of
 * GENERATED_DIAGNOSTICS), each reasoned from README; badRoutes: { key: why }
 * entries whose nexthop outbound cannot read (difference 7); why: { domain:
 * text } the reason an invalid route gives, where README quotes it. */
const HAND = [
  {
    name: 'defaults',
    loads: [],
    diagnostics: [],
  },
  {
    name: 'readme example',
    loads: [
      [INI, '[relay]\nacl = true\nforce_routing = true\ndest_domains = true\nall = false\n'],
      [ACL, '# the firewall of the office\n192.0.2.1\n198.51.100.0/24   # comment\n2001:db8:1::/48\n'],
      [
        DOMAINS,
        '[domains]\nexample.com = { "action": "accept" }\nexample.net = { "action": "continue", "nexthop": "192.0.2.25:2525" }\n' +
          'example.org = { "action": "deny" }\nany         = { "nexthop": "smtp://smarthost.example:587" }\n',
      ],
    ],
    clients: ['192.0.2.1', '192.0.2.2', '198.51.100.77', '::ffff:198.51.100.77', '2001:db8:1:ffff::1', '2001:db8:2::1'],
    // the README's own example: nothing to report
    diagnostics: [],
  },
  {
    name: 'nested blocks, most specific line wins',
    loads: [[ACL, '10.0.0.0/8\n10.1.0.0/16\n10.1.2.0/24\n10.1.2.3\n0.0.0.0/1\n::/0\n2001:db8::/32\n2001:db8::/48\n::ffff:203.0.113.0/120\n::ffff:0:0/95\n']],
    clients: ['10.9.9.9', '10.1.9.9', '10.1.2.9', '10.1.2.3', '100.0.0.1', '200.0.0.1', '2001:db8::1', '2001:db8:1::1', '3000::1', '203.0.113.7', '::ffff:203.0.113.7', '::ffff:1.2.3.4', '64:ff9b::1'],
    diagnostics: [
      [ACL, 5, 'acl-wide-range'], // 0.0.0.0/1: IPv4 shorter than /8
      [ACL, 6, 'acl-whole-internet'], // ::/0
      [ACL, 10, 'acl-host-bits'], // ::ffff:0:0/95 keeps bit 95, the last bit of ffff, which is set
    ],
  },
  {
    name: 'every route form',
    loads: [
      [INI, ON],
      [
        DOMAINS,
        '[domains]\na.example = {"nexthop":"mx.example"}\nb.example = {"nexthop":"mx.example:25"}\nc.example = {"nexthop":"[2001:db8::1]:587"}\n' +
          'd.example = {"nexthop":"2001:db8::1"}\ne.example = {"nexthop":"lmtp://u:p@127.0.0.1:24"}\n' +
          'f.example = {"nexthop":["smtp://[::1]:25","mx2.example:2525"]}\ng.example = {"nexthop":"192.0.2.1"}\n' +
          'h.example = {"action":"accept","nexthop":"smtp://mx.example:587/"}\nany = {"nexthop":"smarthost.example:2525"}\n',
      ],
    ],
    questions: ['a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'f.example', 'g.example', 'H.Example', 'z.example'],
    // every form README lists for nexthop (a URL may end in '/'): all readable
    diagnostics: [],
  },
  {
    // issue 11: a bad element defers the route and leaves the action (a
    // warning, then an error once force_routing is on); `any` only for
    // domains without an entry
    name: 'a route that cannot be read, and `any` for unlisted domains only',
    loads: [
      [
        DOMAINS,
        '[domains]\narr.example = {"action":"accept","nexthop":["127.0.0.1:25","bad host"]}\n' +
          'listed.example = {"action":"continue"}\nv6.example = {"action":"accept","nexthop":"lmtp://[::1]:2525"}\n' +
          'slash.example = {"action":"accept","nexthop":"smtp://127.0.0.1:2601/@127.0.0.1:2602"}\n' +
          'any = {"nexthop":"smarthost.example:25"}\n',
      ],
      [INI, ON],
    ],
    questions: ['arr.example', 'listed.example', 'v6.example', 'slash.example', 'unlisted.example'],
    badRoutes: {
      'arr.example': 'README: one bad element of an array makes the whole route unreadable ("bad host" has a blank)',
      'slash.example': 'README: a URL with a path after the host is refused (smtp://good.example/@evil.example)',
    },
    why: { 'arr.example': 'nexthop element 2 of 2: bad character in host name' }, // README's log line for this very entry
    diagnostics: [
      [DOMAINS, 2, 'dest-bad-nexthop'],
      [DOMAINS, 5, 'dest-bad-nexthop'],
    ],
  },
  {
    name: 'reloads replace each file whole',
    loads: [
      [INI, '[relay]\nall = true\n'],
      [ACL, '192.0.2.0/24\n'],
      [DOMAINS, '[domains]\nexample.com = {"action":"accept"}\n'],
      [INI, '[relay]\ndest_domains = true\n'],
      [ACL, '198.51.100.0/24\nbad\n'],
      [DOMAINS, '[domains]\nexample.net = {"action":"continue"}\n'],
    ],
    clients: ['192.0.2.1', '198.51.100.1'],
    // only the last text of each file counts: 'bad' on line 2 of the ACL
    diagnostics: [[ACL, 2, 'acl-bad-address']],
  },
  {
    name: 'json nested 64 deep (the limit), and 100000 deep',
    loads: [
      [INI, ON],
      [DOMAINS, { generate: 'deep-json', key: 'deep.example', depth: 63 }],
      [DOMAINS, { generate: 'deep-json', key: 'deeper.example', depth: 100000 }],
    ],
    questions: ['deep.example', 'deeper.example'],
    // the text in force is the 100000-deep one: refused on its line
    diagnostics: [[DOMAINS, 2, 'dest-too-deep']],
  },
  {
    name: 'deep json kept',
    loads: [[INI, ON], [DOMAINS, { generate: 'deep-json', key: 'deep.example', depth: 63 }]],
    questions: ['deep.example'],
    // 63 arrays in an object: 64 levels, the limit, kept; "x" is no key the plugin reads
    diagnostics: [[DOMAINS, 2, 'dest-unknown-key']],
  },
  {
    name: 'json nested 65 and 855 deep refused',
    loads: [
      [INI, ON],
      [DOMAINS, { generate: 'deep-json', key: 'deep.example', depth: 64 }],
      [INI, ON],
      [DOMAINS, { generate: 'deep-json', key: 'deeper.example', depth: 854 }],
      [INI, ON],
    ],
    questions: ['deep.example', 'deeper.example'],
    diagnostics: [[DOMAINS, 2, 'dest-too-deep']],
  },
  {
    name: '100000 acl lines (memory grows)',
    loads: [[ACL, { generate: 'acl-lines', lines: 100000 }]],
    clients: ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.1.134.159', '10.1.134.160', '11.0.0.0'],
    diagnostics: { generate: 'acl-lines', lines: 100000 },
  },
  {
    name: '100000 domain lines',
    loads: [[INI, ON], [DOMAINS, { generate: 'domains-lines', lines: 100000 }]],
    questions: ['d0.example', 'd1.example', 'd99998.example', 'd99999.example', 'd100000.example'],
    diagnostics: { generate: 'domains-lines', lines: 100000 },
  },
  {
    name: 'a 1 MB line in each file',
    loads: [
      [INI, { generate: 'long-line', file: INI, length: 1 << 20 }],
      [ACL, { generate: 'long-line', file: ACL, length: 1 << 20 }],
      [DOMAINS, { generate: 'long-line', file: DOMAINS, length: 1 << 20 }],
    ],
    clients: ['192.0.2.9'],
    diagnostics: [
      [INI, 2, 'ini-not-boolean'], // all = xxx…: no boolean word, read as false
      [ACL, 1, 'acl-bad-address'], // 192.0.2.111…1
      [DOMAINS, 2, 'dest-bad-domain'], // a label of 1 MiB is no domain name
      [DOMAINS, 2, 'dest-domains-off'], // domains listed (from the first entry on), dest_domains off
    ],
  },
]

function fromBad() {
  const out = []
  for (const name of fs.readdirSync(BAD).filter((n) => /^\d\d-/.test(n)).sort()) {
    const dir = path.join(BAD, name)
    const expect = JSON.parse(fs.readFileSync(path.join(dir, 'expect.json'), 'utf8'))
    if (expect.generate) continue // the big ones: the generated cases above stand for them
    const loads = ORDER.filter((f) => fs.existsSync(path.join(dir, f))).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('utf8')])
    const d = expect.decisions || {}
    out.push({
      name: `bad/${name}`,
      loads,
      clients: Object.keys(d.acl || {}),
      questions: [...new Set([...Object.keys(d.rcpt || {}), ...Object.keys(d.route || {})])],
      diagnostics: expect.diagnostics.map((x) => [x.file, x.line, x.code]),
      fixture: d,
    })
  }
  return out
}

/* The expectations of one case. */
function expectationsOf(c) {
  const texts = {}
  for (const [file, spec] of c.loads) texts[file] = suite.text(spec) // the last text of a file is in force
  const notes = []
  const fixture = c.fixture || {}
  const stop = (what) => {
    throw new Error(`${c.name}: ${what}; test/support/reference.js and the fixture's expect.json disagree: decide which is right`)
  }

  const settings = settingsOf(texts[INI])
  for (const [k, v] of Object.entries(fixture.settings || {})) if (settings[k] !== v) stop(`settings.${k}: reference ${settings[k]}, expect.json ${v}`)

  // a route the fixture calls invalid: that of the domain's entry, or of `any`
  const badRoutes = { ...(c.badRoutes || {}) }
  const plain = domainsOf(texts[DOMAINS])
  for (const [q, want] of Object.entries(fixture.route || {})) {
    if (want !== 'invalid') continue
    const key = plain.entries.has(q.toLowerCase()) ? q.toLowerCase() : 'any'
    badRoutes[key] = `expect.json of the fixture: the route of ${q} cannot be read`
  }
  for (const [key, why] of Object.entries(badRoutes)) notes.push(`route of entry ${key} refused by hand (README difference 7): ${why}`)
  const domains = domainsOf(texts[DOMAINS], { badRoutes })
  const acl = aclOf(texts[ACL])

  const clients = [...new Set([...(c.clients || []), ...CLIENTS])]
  const questions = [...new Set([...(c.questions || []), ...QUESTIONS])]
  const expect = { diagnostics: [], settings, acl: {}, rcpt: {}, route: {} }
  for (const ip of clients) {
    expect.acl[ip] = acl.match(ip)
    if (fixture.acl && ip in fixture.acl && fixture.acl[ip] !== expect.acl[ip]) stop(`acl ${ip}: reference ${expect.acl[ip]}, expect.json ${fixture.acl[ip]}`)
  }
  for (const q of questions) {
    expect.rcpt[q] = domains.rcpt(q)
    if (fixture.rcpt && q in fixture.rcpt && fixture.rcpt[q] !== expect.rcpt[q].action) stop(`rcpt ${q}: reference ${expect.rcpt[q].action}, expect.json ${fixture.rcpt[q]}`)
    const route = domains.route(q)
    const fr = fixture.route && fixture.route[q]
    if (fr !== undefined && (typeof fr === 'string' ? fr !== route.status : route.status !== 'nexthop' || JSON.stringify(fr.nexthop) !== JSON.stringify(route.nexthop))) {
      stop(`route ${q}: reference ${JSON.stringify(route)}, expect.json ${JSON.stringify(fr)}`)
    }
    if (c.why && c.why[q] && route.status === 'invalid') route.why = c.why[q]
    expect.route[q] = route
  }

  const list = Array.isArray(c.diagnostics) ? c.diagnostics : GENERATED_DIAGNOSTICS[c.diagnostics.generate](c.diagnostics)
  expect.diagnostics = list.map(([file, line, code, severity]) => ({
    file,
    line,
    code,
    severity: severity || (code === 'dest-bad-nexthop' ? (settings.force_routing ? 'error' : 'warning') : SEVERITY[code]),
  }))
  for (const d of expect.diagnostics) if (!d.severity) throw new Error(`${c.name}: no severity for ${d.code}: add it to SEVERITY from README's table`)
  return { expect, notes }
}

function build() {
  return [...HAND, ...fromBad()].map((c) => {
    const { expect, notes } = expectationsOf(c)
    const from = c.fixture ? `test/fixtures/bad/${c.name.slice(4)}/expect.json` : 'hand-reasoned in test/matrix/make-cases.js'
    return { name: c.name, loads: c.loads, sources: [`diagnostics: ${from}`, 'decisions: test/support/reference.js', ...notes], expect }
  })
}

function main() {
  const json = JSON.stringify(build(), null, 1) + '\n'
  if (!process.argv.includes('--check')) {
    fs.writeFileSync(OUT, json)
    console.log(`test/matrix/cases.json: ${JSON.parse(json).length} cases, ${json.length} bytes`)
    return
  }
  const now = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : ''
  if (now !== json) {
    console.error('test/matrix/cases.json is not what test/matrix/make-cases.js writes: run it and review the diff')
    process.exit(1)
  }
  // and the committed module, on this Node, answers as the table says
  const RelayWasm = require('../../js/wasm-module')
  const result = suite.run(RelayWasm, fs.readFileSync(path.join(ROOT, 'wasm', 'relay.wasm')), JSON.parse(json))
  if (result.failures.length) {
    for (const f of result.failures.slice(0, 10)) console.error(JSON.stringify(f).slice(0, 1000))
    console.error(`wasm/relay.wasm fails ${result.failures.length} of ${result.checks} checks of test/matrix/cases.json`)
    process.exit(1)
  }
  console.log(`test/matrix/cases.json is current; wasm/relay.wasm passes its ${result.checks} checks in ${result.cases} cases`)
}

main()
