/*
 * make-cases.js - writes test/matrix/cases.json, the conformance table that
 * every runtime and build must answer identically (scripts/matrix.js).
 *
 *   node test/matrix/make-cases.js          rewrite cases.json from the committed wasm
 *   node test/matrix/make-cases.js --check  fail when cases.json is not what it would write
 *
 * The inputs are the hand-written cases below plus every committed set of
 * test/fixtures/bad (their files as the plugin reads them, UTF-8) and a few
 * generated texts; the expected outputs are what wasm/relay.wasm answers on
 * this Node.  What those answers must be is pinned elsewhere (the C tests,
 * test/bad-configs.test.js, the differential tests): this table pins that
 * every runtime and the Emscripten build give the same ones.  After a
 * deliberate change of behaviour, rewrite it and review the diff.
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const { createEngine } = require('../../js/engine')
const suite = require('./suite')

const OUT = path.join(__dirname, 'cases.json')
const BAD = path.join(__dirname, '..', 'fixtures', 'bad')
const ORDER = ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']

const CLIENTS = ['127.0.0.1', '192.0.2.1', '192.0.2.200', '::ffff:192.0.2.1', '10.0.0.1', '2001:db8::1', '::1', '0.0.0.0', 'not-an-ip']
const DOMAINS = ['example.com', 'EXAMPLE.NET', 'example.org', 'any', 'other.example']

const ON = '[relay]\nacl = true\ndest_domains = true\nforce_routing = true\n'

const HAND = [
  {
    name: 'defaults',
    loads: [],
  },
  {
    name: 'readme example',
    loads: [
      ['relay.ini', '[relay]\nacl = true\nforce_routing = true\ndest_domains = true\nall = false\n'],
      ['relay_acl_allow', '# the firewall of the office\n192.0.2.1\n198.51.100.0/24   # comment\n2001:db8:1::/48\n'],
      [
        'relay_dest_domains.ini',
        '[domains]\nexample.com = { "action": "accept" }\nexample.net = { "action": "continue", "nexthop": "192.0.2.25:2525" }\n' +
          'example.org = { "action": "deny" }\nany         = { "nexthop": "smtp://smarthost.example:587" }\n',
      ],
    ],
    clients: ['192.0.2.1', '192.0.2.2', '198.51.100.77', '::ffff:198.51.100.77', '2001:db8:1:ffff::1', '2001:db8:2::1'],
  },
  {
    name: 'nested blocks, most specific line wins',
    loads: [['relay_acl_allow', '10.0.0.0/8\n10.1.0.0/16\n10.1.2.0/24\n10.1.2.3\n0.0.0.0/1\n::/0\n2001:db8::/32\n2001:db8::/48\n::ffff:203.0.113.0/120\n::ffff:0:0/95\n']],
    clients: ['10.9.9.9', '10.1.9.9', '10.1.2.9', '10.1.2.3', '100.0.0.1', '200.0.0.1', '2001:db8::1', '2001:db8:1::1', '3000::1', '203.0.113.7', '::ffff:203.0.113.7', '::ffff:1.2.3.4', '64:ff9b::1'],
  },
  {
    name: 'every route form',
    loads: [
      ['relay.ini', ON],
      [
        'relay_dest_domains.ini',
        '[domains]\na.example = {"nexthop":"mx.example"}\nb.example = {"nexthop":"mx.example:25"}\nc.example = {"nexthop":"[2001:db8::1]:587"}\n' +
          'd.example = {"nexthop":"2001:db8::1"}\ne.example = {"nexthop":"lmtp://u:p@127.0.0.1:24"}\n' +
          'f.example = {"nexthop":["smtp://[::1]:25","mx2.example:2525"]}\ng.example = {"nexthop":"192.0.2.1"}\n' +
          'h.example = {"action":"accept","nexthop":"smtp://mx.example:587/"}\nany = {"nexthop":"smarthost.example:2525"}\n',
      ],
    ],
    domains: ['a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'f.example', 'g.example', 'H.Example', 'z.example'],
  },
  {
    // issue 11: a bad element defers the route and leaves the action (a
    // warning, then an error once force_routing is on); `any` only for
    // domains without an entry
    name: 'a route that cannot be read, and `any` for unlisted domains only',
    loads: [
      [
        'relay_dest_domains.ini',
        '[domains]\narr.example = {"action":"accept","nexthop":["127.0.0.1:25","bad host"]}\n' +
          'listed.example = {"action":"continue"}\nv6.example = {"action":"accept","nexthop":"lmtp://[::1]:2525"}\n' +
          'slash.example = {"action":"accept","nexthop":"smtp://127.0.0.1:2601/@127.0.0.1:2602"}\n' +
          'any = {"nexthop":"smarthost.example:25"}\n',
      ],
      ['relay.ini', ON],
    ],
    domains: ['arr.example', 'listed.example', 'v6.example', 'slash.example', 'unlisted.example'],
  },
  {
    name: 'reloads replace each file whole',
    loads: [
      ['relay.ini', '[relay]\nall = true\n'],
      ['relay_acl_allow', '192.0.2.0/24\n'],
      ['relay_dest_domains.ini', '[domains]\nexample.com = {"action":"accept"}\n'],
      ['relay.ini', '[relay]\ndest_domains = true\n'],
      ['relay_acl_allow', '198.51.100.0/24\nbad\n'],
      ['relay_dest_domains.ini', '[domains]\nexample.net = {"action":"continue"}\n'],
    ],
    clients: ['192.0.2.1', '198.51.100.1'],
  },
  {
    name: 'json nested 64 deep (the limit), and 100000 deep',
    loads: [
      ['relay.ini', ON],
      ['relay_dest_domains.ini', { generate: 'deep-json', key: 'deep.example', depth: 63 }],
      ['relay_dest_domains.ini', { generate: 'deep-json', key: 'deeper.example', depth: 100000 }],
    ],
    domains: ['deep.example', 'deeper.example'],
  },
  {
    name: 'deep json kept',
    loads: [['relay.ini', ON], ['relay_dest_domains.ini', { generate: 'deep-json', key: 'deep.example', depth: 63 }]],
    domains: ['deep.example'],
  },
  {
    name: 'json nested 65 and 855 deep refused',
    loads: [
      ['relay.ini', ON],
      ['relay_dest_domains.ini', { generate: 'deep-json', key: 'deep.example', depth: 64 }],
      ['relay.ini', ON],
      ['relay_dest_domains.ini', { generate: 'deep-json', key: 'deeper.example', depth: 854 }],
      ['relay.ini', ON],
    ],
    domains: ['deep.example', 'deeper.example'],
  },
  {
    name: '100000 acl lines (memory grows)',
    loads: [['relay_acl_allow', { generate: 'acl-lines', lines: 100000 }]],
    clients: ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.1.134.159', '10.1.134.160', '11.0.0.0'],
  },
  {
    name: '100000 domain lines',
    loads: [['relay.ini', ON], ['relay_dest_domains.ini', { generate: 'domains-lines', lines: 100000 }]],
    domains: ['d0.example', 'd1.example', 'd99998.example', 'd99999.example', 'd100000.example'],
  },
  {
    name: 'a 1 MB line in each file',
    loads: [
      ['relay.ini', { generate: 'long-line', file: 'relay.ini', length: 1 << 20 }],
      ['relay_acl_allow', { generate: 'long-line', file: 'relay_acl_allow', length: 1 << 20 }],
      ['relay_dest_domains.ini', { generate: 'long-line', file: 'relay_dest_domains.ini', length: 1 << 20 }],
    ],
    clients: ['192.0.2.9'],
  },
]

function fromBad() {
  const out = []
  for (const name of fs.readdirSync(BAD).filter((n) => /^\d\d-/.test(n)).sort()) {
    const dir = path.join(BAD, name)
    const expect = JSON.parse(fs.readFileSync(path.join(dir, 'expect.json'), 'utf8'))
    if (expect.generate) continue // the big ones: covered by the generated cases above
    const loads = ORDER.filter((f) => fs.existsSync(path.join(dir, f))).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('utf8')])
    const d = expect.decisions || {}
    out.push({
      name: `bad/${name}`,
      loads,
      clients: Object.keys(d.acl || {}),
      domains: [...new Set([...Object.keys(d.rcpt || {}), ...Object.keys(d.route || {})])],
    })
  }
  return out
}

function build() {
  const cases = []
  for (const c of [...HAND, ...fromBad()]) {
    const clients = [...new Set([...(c.clients || []), ...CLIENTS])]
    const domains = [...new Set([...(c.domains || []), ...DOMAINS])]
    const expect = {
      acl: Object.fromEntries(clients.map((ip) => [ip, null])),
      rcpt: Object.fromEntries(domains.map((d) => [d, null])),
      route: Object.fromEntries(domains.map((d) => [d, null])),
    }
    const got = suite.answers(createEngine(), { loads: c.loads, expect })
    cases.push({ name: c.name, loads: c.loads, expect: got })
  }
  return cases
}

function main() {
  const json = JSON.stringify(build(), null, 1) + '\n'
  if (process.argv.includes('--check')) {
    const now = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : ''
    if (now !== json) {
      console.error('test/matrix/cases.json differs from what wasm/relay.wasm answers now: run `node test/matrix/make-cases.js` and review the diff')
      process.exit(1)
    }
    console.log('test/matrix/cases.json is current')
    return
  }
  fs.writeFileSync(OUT, json)
  console.log(`test/matrix/cases.json: ${JSON.parse(json).length} cases, ${json.length} bytes`)
}

main()
