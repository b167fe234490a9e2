'use strict'
// Subdomain keys in relay_dest_domains.ini (issue 14, part 1): a key with a
// leading dot, `.example.com`, is the entry of every subdomain of
// example.com at any depth, not of example.com itself; the domain's own key
// comes first, then the longest subdomain key; routing follows the same
// entry, before `any`.  Shown through relay-check (a child process, as a
// user runs it), the validator page (chromium) and a real Haraka whose
// outbound delivers to sinks.
//
//   node --test test/suffix-keys.test.js

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const { relayCheck } = require('./support/relay-check')
const { relayIni: RELAY } = require('./support/relay-ini')
const { openValidator, ask, readPage } = require('./support/browser')
const { Haraka, Sink, Smtp, freePort, sleep, transaction } = require('./lib/haraka')

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-suffix-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))
let dirs = 0
function configDir(files) {
  const dir = path.join(tmpRoot, `c${++dirs}`)
  fs.mkdirSync(dir)
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
  return dir
}
const { check, json } = relayCheck(tmpRoot)

const DOMAINS = [
  '[domains]',
  'example.com = { "action": "deny" }', // 2
  '.example.com = { "action": "accept", "nexthop": "192.0.2.25:2525" }', // 3
  'exact.example.com = { "action": "continue" }', // 4
  '.B.Example.COM = { "action": "accept" }', // 5: no nexthop, so by MX
  '.xn--bcher-kva.example = { "action": "accept" }', // 6: bücher.example
  'any = { "nexthop": "smarthost.example:587" }', // 7
  '',
].join('\n')
const FILES = {
  'relay.ini': RELAY({ dest_domains: true, force_routing: true }),
  relay_acl_allow: '192.0.2.10\n',
  'relay_dest_domains.ini': DOMAINS,
}
const STRANGER = '203.0.113.5'

describe('subdomain keys through relay-check', () => {
  it('each key with a leading dot is a note naming what it now covers; notes fail nothing, --strict included', () => {
    const dir = configDir(FILES)
    const { status, doc } = json([dir])
    assert.equal(status, 0)
    assert.deepEqual(
      doc.diagnostics.map((d) => [d.line, d.severity, d.code]),
      [
        [3, 'info', 'dest-suffix-key'],
        [5, 'info', 'dest-suffix-key'],
        [6, 'info', 'dest-suffix-key'],
      ],
    )
    assert.equal(
      doc.diagnostics[0].message,
      "'.example.com' matches every subdomain of example.com (a.example.com, a.b.example.com, …), not example.com itself; haraka-plugin-relay 1.0.2 never matched this key",
    )
    assert.match(doc.diagnostics[1].message, /^'\.B\.Example\.COM' matches every subdomain of b\.example\.com \(/)
    const strict = check([dir, '--strict'])
    assert.equal(strict.status, 0, strict.stdout)
    assert.ok(strict.lines.includes(`${path.join(dir, 'relay_dest_domains.ini')}:3:1: info: ${doc.diagnostics[0].message} [dest-suffix-key]`), strict.stdout)
  })

  it('the exact key first, then the longest subdomain key, never the apex; case and IDN as exact keys', () => {
    const dir = configDir(FILES)
    const rcpts = ['u@x.example.com', 'u@a.b.example.com', 'u@example.com', 'u@exact.example.com', 'u@Q.X.Example.COM', 'u@deep.er.exact.example.com', 'u@a.BÜCHER.example', 'u@bücher.example', 'u@notexample.com', 'u@b.example.com']
    const { status, doc } = json([dir, '--ip', STRANGER, ...rcpts.flatMap((r) => ['--rcpt', r])])
    assert.equal(status, 0)
    const got = doc.decision.recipients.map((r) => [r.domain, r.code, r.reason, r.line, r.key])
    assert.deepEqual(got, [
      ['x.example.com', 250, 'dest-accept', 3, '.example.com'],
      ['a.b.example.com', 250, 'dest-accept', 5, '.b.example.com'],
      ['example.com', 550, 'dest-deny', 2, 'example.com'],
      ['exact.example.com', 250, 'dest-continue', 4, 'exact.example.com'],
      ['q.x.example.com', 250, 'dest-accept', 3, '.example.com'],
      ['deep.er.exact.example.com', 250, 'dest-accept', 3, '.example.com'], // an exact key covers no subdomain
      ['a.xn--bcher-kva.example', 250, 'dest-accept', 6, '.xn--bcher-kva.example'],
      ['xn--bcher-kva.example', 550, 'dest-unlisted', 0, null],
      ['notexample.com', 550, 'dest-unlisted', 0, null],
      ['b.example.com', 250, 'dest-accept', 3, '.example.com'], // the apex of .b.example.com
    ])
    const [x, ab, apex, exact] = doc.decision.recipients
    assert.equal(x.explain, 'relay_dest_domains.ini line 3 (.example.com) says accept for x.example.com: accepted and relayed (this recipient only)')
    assert.equal(apex.explain, 'relay_dest_domains.ini line 2 says deny for example.com')
    assert.match(exact.explain, /^relay_dest_domains\.ini line 4 says continue for exact\.example\.com: /)
    // routes: the entry that decided, before `any`
    assert.deepEqual([x.route.status, x.route.nexthop, x.route.key, x.route.line], ['nexthop', '192.0.2.25:2525', '.example.com', 3])
    assert.equal(x.route.explain, 'nexthop 192.0.2.25:2525 (entry .example.com, relay_dest_domains.ini line 3)')
    assert.equal(ab.route.status, 'mx')
    assert.equal(ab.route.explain, 'MX lookup for a.b.example.com: its entry .b.example.com (relay_dest_domains.ini line 5) gives no nexthop, and `any` routes only domains without an entry')
    // the text output says the same
    const text = check([dir, '--ip', STRANGER, '--rcpt', 'u@x.example.com', '--rcpt', 'u@example.com'])
    assert.ok(text.lines.includes('  <u@x.example.com>: 250 accepted: relay_dest_domains.ini line 3 (.example.com) says accept for x.example.com: accepted and relayed (this recipient only)'), text.stdout)
    assert.ok(text.lines.includes('    route: nexthop 192.0.2.25:2525 (entry .example.com, relay_dest_domains.ini line 3)'), text.stdout)
    assert.ok(text.lines.includes('  <u@example.com>: 550 refused "You are not allowed to relay": relay_dest_domains.ini line 2 says deny for example.com'), text.stdout)
  })

  it('routing: a subdomain key before `any`, which routes only the names no key covers', () => {
    const dir = configDir(FILES)
    const { doc } = json([dir, '--ip', '192.0.2.10', '--rcpt', 'u@m.x.example.com', '--rcpt', 'u@c.b.example.com', '--rcpt', 'u@far.test', '--rcpt', 'u@example.com', '--rcpt', 'u@bücher.example'])
    assert.deepEqual(
      doc.decision.recipients.map((r) => [r.domain, r.code, r.route.status, r.route.key ?? null, r.route.nexthop ?? null]),
      [
        ['m.x.example.com', 250, 'nexthop', '.example.com', '192.0.2.25:2525'],
        ['c.b.example.com', 250, 'mx', null, null],
        ['far.test', 250, 'nexthop', 'any', 'smarthost.example:587'],
        ['example.com', 250, 'mx', null, null], // its own entry gives no nexthop
        ['xn--bcher-kva.example', 250, 'nexthop', 'any', 'smarthost.example:587'], // the apex has no entry
      ],
    )
  })

  it('a dot with no domain after it is an error at its line and matches nothing', () => {
    const dir = configDir({
      'relay.ini': RELAY({ dest_domains: true }),
      'relay_dest_domains.ini': '[domains]\n. = { "action": "accept" }\n..x.example = { "action": "accept" }\n... = { "action": "accept" }\nok.example = { "action": "accept" }\n',
    })
    const { status, doc } = json([dir, '--ip', STRANGER, '--rcpt', 'u@a.x.example', '--rcpt', 'u@x.example', '--rcpt', 'u@far.test', '--rcpt', 'u@ok.example'])
    assert.equal(status, 1)
    assert.deepEqual(
      doc.diagnostics.map((d) => [d.line, d.severity, d.code]),
      [
        [2, 'error', 'dest-bad-suffix-key'],
        [3, 'error', 'dest-bad-suffix-key'],
        [4, 'error', 'dest-bad-suffix-key'],
      ],
    )
    assert.match(doc.diagnostics[1].message, /^'\.\.x\.example' is no subdomain key: a leading dot must be followed by a domain name/)
    assert.deepEqual(
      doc.decision.recipients.map((r) => [r.code, r.reason]),
      [
        [550, 'dest-unlisted'],
        [550, 'dest-unlisted'],
        [550, 'dest-unlisted'],
        [250, 'dest-accept'],
      ],
    )
  })

  it('a file of many subdomain keys: the first 100 told one by one, the rest in one note, and --strict still passes', () => {
    const lines = ['[domains]']
    for (let i = 0; i < 5000; i++) lines.push(`.d${i}.example = { "action": "accept" }`)
    const dir = configDir({ 'relay.ini': RELAY({ dest_domains: true }), 'relay_dest_domains.ini': lines.join('\n') + '\n' })
    const r = json([dir, '--strict', '--ip', STRANGER, '--rcpt', 'u@a.b.c.d4999.example', '--rcpt', 'u@d4999.example'])
    assert.equal(r.status, 0, r.stdout.slice(0, 2000))
    const notes = r.doc.diagnostics.filter((d) => d.code === 'dest-suffix-key')
    assert.equal(notes.length, 101)
    assert.equal(r.doc.diagnostics.length, 101)
    assert.equal(notes[100].line, 102)
    assert.match(notes[100].message, /^4900 more keys with a leading dot, from here to line 5001, each match every subdomain of their domain/)
    assert.deepEqual(r.doc.decision.recipients.map((x) => [x.code, x.key]), [[250, '.d4999.example'], [550, null]])
  })
})

describe('subdomain keys on the validator page', { timeout: 60000 }, () => {
  let v
  before(async () => {
    v = await openValidator()
  })
  after(async () => {
    await v?.close()
  })

  it('names the key that matched, and notes each subdomain key at its line', async () => {
    await ask(v.page, { files: FILES, ip: STRANGER, auth: false, rcpts: ['u@x.example.com', 'u@example.com', 'u@a.b.example.com', 'u@a.BÜCHER.example'] })
    const { recipients, diagnostics } = await readPage(v.page)
    assert.deepEqual(
      diagnostics.map((d) => [d.file, d.line, d.severity, d.code]),
      [
        ['relay_dest_domains.ini', 3, 'info', 'dest-suffix-key'],
        ['relay_dest_domains.ini', 5, 'info', 'dest-suffix-key'],
        ['relay_dest_domains.ini', 6, 'info', 'dest-suffix-key'],
      ],
    )
    assert.match(diagnostics[0].message, /matches every subdomain of example\.com .*not example\.com itself; haraka-plugin-relay 1\.0\.2 never matched this key/)
    assert.deepEqual(
      recipients.map((r) => [r.address, r.code, r.line]),
      [
        ['u@x.example.com', 250, 3],
        ['u@example.com', 550, 2],
        ['u@a.b.example.com', 250, 5],
        ['u@a.BÜCHER.example', 250, 6],
      ],
    )
    assert.match(recipients[0].text, /relay_dest_domains\.ini line 3 \(\.example\.com\) says accept for x\.example\.com/)
    assert.match(recipients[0].text, /Route: nexthop 192\.0\.2\.25:2525 \(entry \.example\.com, relay_dest_domains\.ini line 3\)/)
    assert.match(recipients[1].text, /relay_dest_domains\.ini line 2 says deny for example\.com/)
    assert.match(recipients[3].text, /line 6 \(\.xn--bcher-kva\.example\) says accept for a\.xn--bcher-kva\.example/)
    const keys = await v.page.locator('#answer .rcpts li').evaluateAll((lis) => lis.map((li) => li.dataset.key ?? null))
    assert.deepEqual(keys, ['.example.com', 'example.com', '.b.example.com', '.xn--bcher-kva.example'])
  })
})

describe('subdomain keys in a real Haraka', { timeout: 180000 }, () => {
  let haraka
  let port
  const sinks = {}
  const ACL_CLIENT = '127.0.0.2'
  const OTHER = '127.0.0.3'

  before(async () => {
    for (const name of ['wide', 'deep', 'any', 'mx']) sinks[name] = await new Sink({ name }).start()
    port = await freePort()
    haraka = new Haraka({
      name: 'suffix-keys',
      listen: [`127.0.0.1:${port}`],
      // no queue plugin: relayed mail goes to outbound; mx_probe stands in
      // for DNS after relay-wasm, so "by MX" is mail at the mx sink
      plugins: ['relay-wasm', 'mx_probe'],
      files: {
        'relay.ini': RELAY({ dest_domains: true, force_routing: true }),
        relay_acl_allow: `${ACL_CLIENT}\n`,
        'relay_dest_domains.ini': [
          '[domains]',
          `.relay.test = { "action": "accept", "nexthop": "${sinks.wide.hostport}" }`, // 2
          `.deep.relay.test = { "action": "accept", "nexthop": "${sinks.deep.hostport}" }`, // 3
          'exact.relay.test = { "action": "deny" }', // 4
          '.bymx.test = { "action": "accept" }', // 5
          `any = { "nexthop": "${sinks.any.hostport}" }`, // 6
          '',
        ].join('\n'),
      },
      setup: (h) =>
        fs.writeFileSync(
          path.join(h.dir, 'plugins', 'mx_probe.js'),
          `'use strict'\nexports.hook_get_mx = function (next, hmail, domain) {\n  next(OK, ${JSON.stringify(sinks.mx.hostport)})\n}\n`,
        ),
    })
    await haraka.start()
  })

  after(async () => {
    await haraka?.stop()
    for (const s of Object.values(sinks)) await s.stop()
  })

  it('logs a note for each subdomain key when the file is loaded', () => {
    assert.match(haraka.output, /relay_dest_domains\.ini:2:1: info: '\.relay\.test' matches every subdomain of relay\.test \(a\.relay\.test, a\.b\.relay\.test, …\), not relay\.test itself; haraka-plugin-relay 1\.0\.2 never matched this key \[dest-suffix-key\]/)
    assert.match(haraka.output, /relay_dest_domains\.ini:3:1: info: '\.deep\.relay\.test' matches every subdomain/)
  })

  it('a subdomain is accepted at any depth, the apex refused, the exact key wins', async () => {
    const r = await transaction(port, OTHER, ['a@x.relay.test', 'b@a.b.relay.test', 'c@relay.test', 'd@exact.relay.test', 'e@x.exact.relay.test'])
    assert.deepEqual(r.codes, [250, 250, 550, 550, 250])
    assert.match(r.texts[2], /You are not allowed to relay/)
    assert.match(r.texts[3], /You are not allowed to relay/)
    assert.equal(r.data, 250)
  })

  it('outbound delivers by the entry that decided: the longest subdomain key, its MX, else `any`', async () => {
    const send = async (from, rcpts) => {
      const c = await Smtp.open({ port, localAddress: from })
      try {
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        for (const r of rcpts) assert.equal((await c.send(`RCPT TO:<${r}>`)).code, 250, r)
        assert.equal((await c.data('Subject: subdomain keys\r\n\r\nhello\r\n')).code, 250)
      } finally {
        await c.quit()
      }
    }
    await send(OTHER, ['w@m.relay.test', 'x@q.deep.relay.test', 'y@z.bymx.test'])
    // the office relays anywhere: the apex has no entry, so `any` routes it
    await send(ACL_CLIENT, ['z@relay.test', 'v@y.x.deep.relay.test'])
    const to = (addr) => (m) => m.rcptTo.includes(addr)
    for (const r of ['a@x.relay.test', 'b@a.b.relay.test', 'e@x.exact.relay.test', 'w@m.relay.test']) assert.ok(await sinks.wide.waitFor(to(r)))
    assert.ok(await sinks.deep.waitFor(to('x@q.deep.relay.test')))
    assert.ok(await sinks.deep.waitFor(to('v@y.x.deep.relay.test')))
    assert.ok(await sinks.mx.waitFor(to('y@z.bymx.test')))
    assert.ok(await sinks.any.waitFor(to('z@relay.test')))
    await sleep(500) // nothing else arrives anywhere else
    const where = Object.fromEntries(Object.entries(sinks).map(([n, s]) => [n, s.messages.flatMap((m) => m.rcptTo).sort()]))
    assert.deepEqual(where, {
      // and the three the test before accepted (an exact key covers no subdomain)
      wide: ['a@x.relay.test', 'b@a.b.relay.test', 'e@x.exact.relay.test', 'w@m.relay.test'],
      deep: ['v@y.x.deep.relay.test', 'x@q.deep.relay.test'],
      any: ['z@relay.test'],
      mx: ['y@z.bymx.test'],
    })
  })
})
