'use strict'
// Forced routes deliver for real (relay.ini force_routing=true): mail that
// Haraka accepts for a domain whose relay_dest_domains.ini entry has a nexthop
// is delivered by Haraka's outbound to that nexthop, a second SMTP (or LMTP)
// server on another loopback port (the npm package smtp-server), which must
// receive the message byte for byte. Forms exercised: host:port,
// smtp://host:port[/], [IPv6]:port, smtp://[::1]:port and lmtp://[::1]:port
// (when ::1 exists), lmtp://host:port, and an array whose first exchange
// refuses connections. Each message goes where relay-check (js/cli.js) says
// it goes. A route that cannot be read (a bad port, one bad element of an
// array, a URL with a path before an '@') is deferred whole, never guessed,
// and the recipient is answered by the entry's action all the same.
//
// `any` routes the domains without an entry; a listed domain without a
// nexthop goes by MX, as with haraka-plugin-relay 1.0.2. No MX lookup may
// leave the machine: a get_mx plugin after relay-wasm (mx_probe, written by
// this suite) answers every domain relay-wasm passes on (CONT) with the `mx`
// sink and logs it, so "by MX" is seen as mail at that sink. Those domains
// are .test names all the same.
//
// Haraka's outbound skips a *DNS* MX that points at this machine unless
// outbound.ini local_mx_ok=true; a nexthop given by a get_mx plugin is not
// from DNS and is used as given, so no outbound.ini is needed here.
//
// Used by haraka-routes.test.js (one process) and haraka-cluster.test.js
// (nodes=2).

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const { Haraka, REPO, Sink, Smtp, assertWorkersServed, freePort, hasIPv6Loopback, sleep } = require('./haraka')

const CLI = path.join(REPO, 'js', 'cli.js')

// A get_mx plugin for after relay-wasm: it sees only the domains relay-wasm
// passed on to the MX lookup, logs each one, and sends it to `hostport`
// (the mx sink), so no DNS query is made.
function writeMxProbe(haraka, hostport) {
  fs.writeFileSync(
    path.join(haraka.dir, 'plugins', 'mx_probe.js'),
    `'use strict'
// written by test/lib/routes-suite.js
exports.hook_get_mx = function (next, hmail, domain) {
    this.loginfo('mx_probe: MX lookup for ' + domain + ' answered with ${hostport}')
    next(OK, ${JSON.stringify(hostport)})
}
`,
  )
}

// What relay-check says of these recipients from this client, with the
// config of `haraka`: its --format json decision.
function relayCheck(haraka, ip, rcpts) {
  const r = spawnSync(process.execPath, [CLI, haraka.cfg, '--format', 'json', '--ip', ip, ...rcpts.flatMap((x) => ['--rcpt', x])], { encoding: 'utf8' })
  assert.ok(r.status === 0 || r.status === 1, r.stderr)
  return JSON.parse(r.stdout)
}

// The host, port and protocol a reader sees in a nexthop text as written
// (not as any parser of ours or Haraka's reads it): scheme, then anything up
// to an '@', then host and port; a trailing '/' is nothing.
function named(hop) {
  const m = /^(?:(smtp|lmtp):\/\/)?(?:[^@/?#]*@)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?\/?$/.exec(hop)
  assert.ok(m, `a nexthop relay-check approved is not host[:port]: ${hop}`)
  return { lmtp: m[1] === 'lmtp', host: m[2].replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : m[1] === 'lmtp' ? 24 : 25 }
}

const ACL_CLIENT = '127.0.0.2' // relays to any domain (relay_acl_allow)
const OTHER_CLIENT = '127.0.0.3' // relays only to dest_domains accept entries

// A message with what tends to get mangled on the way: lines that start with
// a dot (dot-stuffed on the wire), a lone dot, trailing blanks, a tab, 8-bit
// UTF-8, an empty line in the body.
function messageFor(tag, rcpts) {
  return [
    'From: Sender <sender@client.example>',
    `To: ${rcpts.map((r) => `<${r}>`).join(', ')}`,
    `Subject: relay-wasm forced route ${tag}`,
    `Message-ID: <${tag}.${process.pid}@client.example>`,
    'Date: Tue, 01 Jan 2030 00:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `.${tag}: a line that starts with a dot`,
    '..and one with two',
    '.',
    'trailing blanks   ',
    '\ttab first',
    '',
    'UTF-8: déjà vu ✓ — Grüße',
    'last line',
    '',
  ].join('\r\n')
}

// What Haraka put in front of the message: header lines only (Received: ...
// and their continuations).
function assertDeliveredVerbatim(msg, sent) {
  const want = Buffer.from(sent, 'utf8')
  const got = msg.data
  assert.ok(got.length >= want.length, `delivered ${got.length} bytes, sent ${want.length}`)
  const tail = got.subarray(got.length - want.length)
  assert.ok(tail.equals(want), `the message arrived changed:\n--- sent\n${sent}\n--- got\n${got.toString('utf8')}`)
  const added = got.subarray(0, got.length - want.length).toString('utf8')
  assert.match(added, /^(?:[A-Za-z0-9-]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*$/, `only header lines added in front:\n${added}`)
  assert.match(added, /^Received: /m, 'Haraka adds its Received header')
}

const to = (addr) => (m) => m.rcptTo.includes(addr)

function routesSuite({ nodes = 0 } = {}) {
  describe(`forced routes deliver through Haraka's outbound (nodes=${nodes})`, { timeout: 180000 }, () => {
    let haraka
    let port
    let v6
    const sinks = {}
    const lines = {} // domain -> line in relay_dest_domains.ini

    before(async () => {
      v6 = await hasIPv6Loopback()
      sinks.smtp = await new Sink({ name: 'smtp' }).start()
      sinks.lmtp = await new Sink({ name: 'lmtp', lmtp: true }).start()
      sinks.any = await new Sink({ name: 'any' }).start()
      sinks.mx = await new Sink({ name: 'mx' }).start() // what mx_probe answers
      sinks.before = await new Sink({ name: 'before-slash' }).start()
      sinks.after = await new Sink({ name: 'after-at' }).start()
      sinks.arr = await new Sink({ name: 'arr-first' }).start()
      if (v6) {
        sinks.v6 = await new Sink({ name: 'v6', host: '::1' }).start()
        sinks.v6url = await new Sink({ name: 'v6url', host: '::1' }).start()
        sinks.v6lmtp = await new Sink({ name: 'v6lmtp', host: '::1', lmtp: true }).start()
      }
      const dead = await freePort() // nothing listens there: connection refused
      port = await freePort()
      const domains = [
        '[domains]',
        `hostport.example = { "action": "accept", "nexthop": "${sinks.smtp.hostport}" }`,
        `url.example = { "action": "accept", "nexthop": "smtp://${sinks.smtp.hostport}" }`,
        `slashok.example = { "action": "accept", "nexthop": "smtp://${sinks.smtp.hostport}/" }`,
        `lmtp.example = { "action": "accept", "nexthop": "lmtp://${sinks.lmtp.hostport}" }`,
        `list.example = { "action": "accept", "nexthop": ["127.0.0.1:${dead}", "${sinks.smtp.hostport}"] }`,
        v6 ? `ipv6.example = { "action": "accept", "nexthop": "${sinks.v6.hostport}" }` : '; no ::1 here',
        // issue 11 section 2: Haraka keeps the brackets in a URL's host
        v6 ? `v6url.example = { "action": "accept", "nexthop": "smtp://${sinks.v6url.hostport}" }` : '; no ::1 here',
        v6 ? `v6lmtp.example = { "action": "accept", "nexthop": "lmtp://${sinks.v6lmtp.hostport}" }` : '; no ::1 here',
        // the host before the '/' is the one outbound would use: refused
        `slash.example = { "action": "accept", "nexthop": "smtp://${sinks.before.hostport}/@${sinks.after.hostport}" }`,
        // issue 11 section 4: listed, no nexthop: by MX, not to `any`
        'noroute.test = { "action": "accept" }',
        // port out of range, and one bad element of an array: deferred
        // whole, while the action still decides the recipient (section 3)
        'broken.example = { "action": "accept", "nexthop": "127.0.0.1:70000" }',
        `arr.example = { "action": "accept", "nexthop": ["${sinks.arr.hostport}", "bad host"] }`,
        `any = { "nexthop": "${sinks.any.hostport}" }`,
        '',
      ].join('\n')
      domains.split('\n').forEach((l, i) => {
        const m = /^([\w.-]+) =/.exec(l)
        if (m) lines[m[1]] = i + 1
      })
      haraka = new Haraka({
        name: `routes-n${nodes}`,
        nodes,
        listen: [`127.0.0.1:${port}`],
        // no queue plugin: relayed mail goes to outbound; mx_probe stands
        // in for DNS after relay-wasm
        plugins: ['relay-wasm', 'mx_probe'],
        files: {
          'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\nall=false\n',
          relay_acl_allow: `${ACL_CLIENT}\n`,
          'relay_dest_domains.ini': domains,
        },
        setup: (h) => writeMxProbe(h, sinks.mx.hostport),
      })
      await haraka.start()
    })

    after(async () => {
      await haraka?.stop()
      for (const s of Object.values(sinks)) await s.stop()
    })

    // Sends one message and returns it as sent; asserts every RCPT is 250.
    async function send(from, rcpts, tag) {
      const c = await Smtp.open({ port, localAddress: from })
      try {
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        for (const r of rcpts) {
          const reply = await c.send(`RCPT TO:<${r}>`)
          assert.equal(reply.code, 250, `${r}: ${reply.code} ${reply.text}`)
        }
        const message = messageFor(tag, rcpts)
        const d = await c.data(message)
        assert.equal(d.code, 250, d.text)
        return message
      } finally {
        await c.quit()
      }
    }

    // Waits until the deferral of `domain` is logged; returns the log line.
    async function deferral(domain) {
      const re = new RegExp(`invalid route for ${domain.replace(/\./g, '\\.')} in relay_dest_domains\\.ini line (\\d+)[^\\n]*`)
      const deadline = Date.now() + 15000
      for (;;) {
        const m = re.exec(haraka.output)
        if (m) return m
        assert.ok(Date.now() < deadline, `no deferral of ${domain} logged:\n${haraka.tail()}`)
        await sleep(200)
      }
    }

    it('host:port: delivered to that listener, byte for byte', async () => {
      const rcpt = 'alice@hostport.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'hostport')
      const msg = await sinks.smtp.waitFor(to(rcpt))
      assert.equal(msg.mailFrom, 'sender@client.example')
      assert.deepEqual(msg.rcptTo, [rcpt])
      assertDeliveredVerbatim(msg, sent)
    })

    it('smtp://host:port: delivered to that listener', async () => {
      const rcpt = 'bob@url.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'url')
      assertDeliveredVerbatim(await sinks.smtp.waitFor(to(rcpt)), sent)
    })

    it('lmtp://host:port: delivered over LMTP', async () => {
      const rcpt = 'carol@lmtp.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'lmtp')
      const msg = await sinks.lmtp.waitFor(to(rcpt))
      assert.equal(msg.lmtp, true)
      assertDeliveredVerbatim(msg, sent)
    })

    it('[IPv6]:port: delivered to a listener on ::1', async () => {
      if (!v6) assert.fail('no ::1 on this machine: the [IPv6]:port route cannot be exercised')
      const rcpt = 'dave@ipv6.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'ipv6')
      const msg = await sinks.v6.waitFor(to(rcpt))
      assert.match(msg.remoteAddress, /^(::1|::ffff:127\.0\.0\.1)$/)
      assertDeliveredVerbatim(msg, sent)
    })

    // issue 11 section 2: new URL() keeps the brackets of an IPv6 host, so
    // outbound read smtp://[::1]:port as the host "[::1]" and never
    // delivered ("Tried all MXs"); the plugin hands such a route to get_mx
    // with the address bare
    it('smtp://[::1]:port and lmtp://[::1]:port: delivered to the listeners on ::1', async () => {
      if (!v6) assert.fail('no ::1 on this machine: the [IPv6] URL routes cannot be exercised')
      const a = 'vivian@v6url.example'
      const b = 'walter@v6lmtp.example'
      const sent = await send(OTHER_CLIENT, [a, b], 'v6url')
      const ma = await sinks.v6url.waitFor(to(a))
      const mb = await sinks.v6lmtp.waitFor(to(b))
      assert.equal(mb.lmtp, true)
      for (const m of [ma, mb]) {
        assert.match(m.remoteAddress, /^::1$/)
        assertDeliveredVerbatim(m, sent)
      }
    })

    it('an array of nexthops: the first refuses the connection, the second gets the mail', async () => {
      const rcpt = 'erin@list.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'list')
      assertDeliveredVerbatim(await sinks.smtp.waitFor(to(rcpt)), sent)
    })

    // issue 11 section 4
    it('a listed domain without a nexthop goes by MX; `any` routes an unlisted one relayed by the ACL', async () => {
      const listed = 'frank@noroute.test'
      let sent = await send(OTHER_CLIENT, [listed], 'mx-listed')
      assertDeliveredVerbatim(await sinks.mx.waitFor(to(listed)), sent)
      assert.match(haraka.output, /mx_probe: MX lookup for noroute\.test answered/)
      assert.ok(!sinks.any.messages.some(to(listed)), 'a listed domain went to `any`')
      const unlisted = 'grace@unlisted.example'
      sent = await send(ACL_CLIENT, [unlisted], 'any-unlisted')
      assertDeliveredVerbatim(await sinks.any.waitFor(to(unlisted)), sent)
      assert.doesNotMatch(haraka.output, /mx_probe: MX lookup for unlisted\.example/)
    })

    it('one message to several routed domains is split by route', async () => {
      const rcpts = ['h1@hostport.example', 'h2@lmtp.example', 'h3@noroute.test', 'h4@HostPort.Example', 'h5@elsewhere.example']
      const sent = await send(ACL_CLIENT, rcpts, 'split')
      const a = await sinks.smtp.waitFor(to('h1@hostport.example'))
      const b = await sinks.lmtp.waitFor(to('h2@lmtp.example'))
      const c = await sinks.mx.waitFor(to('h3@noroute.test'))
      const d = await sinks.any.waitFor(to('h5@elsewhere.example'))
      // the domain is matched without regard to case: both hostport
      // recipients went to the same route (in one delivery or two)
      await sinks.smtp.waitFor(to('h4@HostPort.Example'))
      for (const m of [a, b, c, d]) assertDeliveredVerbatim(m, sent)
      assert.ok(!sinks.any.messages.some(to('h4@HostPort.Example')))
    })

    // issue 11 section 3
    it('a route that cannot be read: the recipient is answered by its action, the mail deferred and never guessed', async () => {
      const rcpts = ['ivan@broken.example', 'judy@arr.example']
      // accepted for a client that needs the entry, and for the ACL client
      await send(OTHER_CLIENT, rcpts, 'broken')
      await send(ACL_CLIENT, ['kim@arr.example'], 'broken-acl')
      const broken = await deferral('broken.example')
      assert.equal(Number(broken[1]), lines['broken.example'])
      assert.match(broken[0], /port out of range/)
      const arr = await deferral('arr.example')
      assert.equal(Number(arr[1]), lines['arr.example'])
      // the log says which element is bad
      assert.match(arr[0], /element 2 of 2: bad character in host name/)
      await sleep(1000)
      for (const s of Object.values(sinks)) {
        for (const r of [...rcpts, 'kim@arr.example']) assert.ok(!s.messages.some(to(r)), `${s.name} got mail for ${r}, whose route cannot be read`)
      }
      assert.match(haraka.output, /get_mx plugin returned DENYSOFT/)
      assert.doesNotMatch(haraka.output, /mx_probe: MX lookup for (broken|arr)\.example/)
    })

    // issue 11 section 2: what relay-check approves is where the mail goes;
    // what it refuses goes nowhere
    it('each message reaches the listener relay-check names, or none when relay-check says deferred', async () => {
      if (!v6) assert.fail('no ::1 on this machine: the [IPv6] routes cannot be exercised')
      const rcpts = [
        'p1@hostport.example',
        'p2@url.example',
        'p3@slashok.example',
        'p4@lmtp.example',
        'p5@ipv6.example',
        'p6@v6url.example',
        'p7@v6lmtp.example',
        'p8@noroute.test',
        'p9@slash.example',
        'p10@arr.example',
      ]
      const check = relayCheck(haraka, OTHER_CLIENT, rcpts)
      const sent = await send(OTHER_CLIENT, rcpts, 'relay-check')
      const bySink = (hop) => {
        const n = named(hop)
        return Object.values(sinks).find((s) => s.host === n.host && s.port === n.port && s.lmtp === n.lmtp)
      }
      const said = {}
      for (const r of check.decision.recipients) {
        assert.equal(r.code, 250, `relay-check: ${r.address}: ${r.explain}`)
        said[r.address] = r.route.status
        if (r.route.status === 'nexthop') {
          const sink = bySink(r.route.nexthop)
          assert.ok(sink, `relay-check names ${r.route.nexthop} for ${r.address}: no listener there`)
          assertDeliveredVerbatim(await sink.waitFor(to(r.address)), sent)
        } else if (r.route.status === 'mx') {
          assertDeliveredVerbatim(await sinks.mx.waitFor(to(r.address)), sent)
        } else {
          assert.equal(r.route.status, 'invalid', r.address)
          await deferral(r.address.replace(/^[^@]*@/, ''))
        }
      }
      assert.deepEqual(said, {
        'p1@hostport.example': 'nexthop',
        'p2@url.example': 'nexthop',
        'p3@slashok.example': 'nexthop',
        'p4@lmtp.example': 'nexthop',
        'p5@ipv6.example': 'nexthop',
        'p6@v6url.example': 'nexthop',
        'p7@v6lmtp.example': 'nexthop',
        'p8@noroute.test': 'mx',
        'p9@slash.example': 'invalid',
        'p10@arr.example': 'invalid',
      })
      await sleep(1000)
      for (const s of Object.values(sinks)) {
        for (const r of ['p9@slash.example', 'p10@arr.example']) assert.ok(!s.messages.some(to(r)), `${s.name} got mail for ${r}, which relay-check says is deferred`)
      }
      // relay-check and the log name the same problem of the slash URL
      const slash = check.decision.recipients.find((r) => r.address === 'p9@slash.example')
      assert.match(slash.route.explain, /outbound would use 127\.0\.0\.1/)
    })

    it(nodes ? 'Haraka is still running, and both workers served sessions' : 'Haraka is still running', () => {
      assert.ok(haraka.alive(), haraka.tail())
      assertWorkersServed(haraka, port, nodes)
    })
  })

  if (nodes) return
  // issue 11 section 3 with force_routing=false: a route that cannot be
  // read is a warning; the recipient is answered by its action and the mail
  // goes by MX
  describe('force_routing=false: a route that cannot be read is a warning only', { timeout: 60000 }, () => {
    let haraka
    let port
    const sinks = {}
    before(async () => {
      sinks.mx = await new Sink({ name: 'mx' }).start()
      sinks.arr = await new Sink({ name: 'arr-first' }).start()
      port = await freePort()
      haraka = new Haraka({
        name: 'routes-off',
        listen: [`127.0.0.1:${port}`],
        plugins: ['relay-wasm', 'mx_probe'],
        files: {
          'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\n',
          relay_acl_allow: `${ACL_CLIENT}\n`,
          'relay_dest_domains.ini': `[domains]\narr.test = { "action": "accept", "nexthop": ["${sinks.arr.hostport}", "bad host"] }\n`,
        },
        setup: (h) => writeMxProbe(h, sinks.mx.hostport),
      })
      await haraka.start()
    })
    after(async () => {
      await haraka?.stop()
      for (const s of Object.values(sinks)) await s.stop()
    })

    it('the recipient is accepted, the mail goes by MX, and the log warns naming the element', async () => {
      assert.match(haraka.output, /relay_dest_domains\.ini:2(?::\d+)?: warning: [^\n]*element 2 of 2[^\n]*\[dest-bad-nexthop\]/)
      const check = relayCheck(haraka, OTHER_CLIENT, ['u@arr.test'])
      assert.deepEqual([check.decision.recipients[0].code, check.decision.recipients[0].route.status], [250, 'mx'])
      const c = await Smtp.open({ port, localAddress: OTHER_CLIENT })
      let sent
      try {
        await c.ehlo()
        await c.send('MAIL FROM:<sender@client.example>')
        const r = await c.send('RCPT TO:<u@arr.test>')
        assert.equal(r.code, 250, r.text)
        sent = messageFor('off', ['u@arr.test'])
        assert.equal((await c.data(sent)).code, 250)
      } finally {
        await c.quit()
      }
      assertDeliveredVerbatim(await sinks.mx.waitFor(to('u@arr.test')), sent)
      assert.ok(!sinks.arr.messages.length, 'the route was used with force_routing=false')
    })
  })
}

module.exports = { routesSuite }
