'use strict'
// Forced routes deliver for real (relay.ini force_routing=true): mail that
// Haraka accepts for a domain whose relay_dest_domains.ini entry has a nexthop
// is delivered by Haraka's outbound to that nexthop, a second SMTP (or LMTP)
// server on another loopback port (the npm package smtp-server), which must
// receive the message byte for byte. The `any` entry catches domains without
// a route of their own. Forms exercised: host:port, smtp://host:port,
// [IPv6]:port (when ::1 exists), lmtp://host:port, and an array whose first
// exchange refuses connections. A route that cannot be read is deferred,
// never guessed.
//
// Haraka's outbound skips a *DNS* MX that points at this machine unless
// outbound.ini local_mx_ok=true; a nexthop given by a get_mx plugin is not
// from DNS and is used as given, so no outbound.ini is needed here.
//
// Used by haraka-routes.test.js (one process) and haraka-cluster.test.js
// (nodes=2).

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, Sink, Smtp, assertWorkersServed, freePort, hasIPv6Loopback, sleep } = require('./haraka')

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

function routesSuite({ nodes = 0 } = {}) {
  describe(`forced routes deliver through Haraka's outbound (nodes=${nodes})`, { timeout: 120000 }, () => {
    let haraka
    let port
    let v6
    const sinks = {}

    before(async () => {
      v6 = await hasIPv6Loopback()
      sinks.smtp = await new Sink({ name: 'smtp' }).start()
      sinks.lmtp = await new Sink({ name: 'lmtp', lmtp: true }).start()
      sinks.any = await new Sink({ name: 'any' }).start()
      if (v6) sinks.v6 = await new Sink({ name: 'v6', host: '::1' }).start()
      const dead = await freePort() // nothing listens there: connection refused
      port = await freePort()
      const domains = [
        '[domains]',
        `hostport.example = { "action": "accept", "nexthop": "${sinks.smtp.hostport}" }`,
        `url.example = { "action": "accept", "nexthop": "smtp://${sinks.smtp.hostport}" }`,
        `lmtp.example = { "action": "accept", "nexthop": "lmtp://${sinks.lmtp.hostport}" }`,
        `list.example = { "action": "accept", "nexthop": ["127.0.0.1:${dead}", "${sinks.smtp.hostport}"] }`,
        v6 ? `ipv6.example = { "action": "accept", "nexthop": "${sinks.v6.hostport}" }` : '; no ::1 here',
        'noroute.example = { "action": "accept" }',
        // port out of range: refused at RCPT for a client that needs the
        // entry; for a client that relays anyway, a route that is deferred
        'broken.example = { "action": "accept", "nexthop": "127.0.0.1:70000" }',
        `any = { "nexthop": "${sinks.any.hostport}" }`,
        '',
      ].join('\n')
      haraka = new Haraka({
        name: `routes-n${nodes}`,
        nodes,
        listen: [`127.0.0.1:${port}`],
        plugins: ['relay-wasm'], // no queue plugin: relayed mail goes to outbound
        files: {
          'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\nall=false\n',
          relay_acl_allow: `${ACL_CLIENT}\n`,
          'relay_dest_domains.ini': domains,
        },
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

    const to = (addr) => (m) => m.rcptTo.includes(addr)

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

    it('[IPv6]:port: delivered to a listener on ::1', async (t) => {
      if (!v6) assert.fail('no ::1 on this machine: the [IPv6]:port route cannot be exercised')
      const rcpt = 'dave@ipv6.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'ipv6')
      const msg = await sinks.v6.waitFor(to(rcpt))
      assert.match(msg.remoteAddress, /^(::1|::ffff:127\.0\.0\.1)$/)
      assertDeliveredVerbatim(msg, sent)
    })

    it('an array of nexthops: the first refuses the connection, the second gets the mail', async () => {
      const rcpt = 'erin@list.example'
      const sent = await send(OTHER_CLIENT, [rcpt], 'list')
      assertDeliveredVerbatim(await sinks.smtp.waitFor(to(rcpt)), sent)
    })

    it('`any` catches a listed domain without a nexthop, and an unlisted one relayed by the ACL', async () => {
      const listed = 'frank@noroute.example'
      let sent = await send(OTHER_CLIENT, [listed], 'any-listed')
      assertDeliveredVerbatim(await sinks.any.waitFor(to(listed)), sent)
      const unlisted = 'grace@unlisted.example'
      sent = await send(ACL_CLIENT, [unlisted], 'any-unlisted')
      assertDeliveredVerbatim(await sinks.any.waitFor(to(unlisted)), sent)
    })

    it('one message to several routed domains is split by route', async () => {
      const rcpts = ['h1@hostport.example', 'h2@lmtp.example', 'h3@noroute.example', 'h4@HostPort.Example']
      const sent = await send(ACL_CLIENT, rcpts, 'split')
      const a = await sinks.smtp.waitFor(to('h1@hostport.example'))
      const b = await sinks.lmtp.waitFor(to('h2@lmtp.example'))
      const c = await sinks.any.waitFor(to('h3@noroute.example'))
      // the domain is matched without regard to case: both hostport
      // recipients went to the same route (in one delivery or two)
      await sinks.smtp.waitFor(to('h4@HostPort.Example'))
      for (const m of [a, b, c]) assertDeliveredVerbatim(m, sent)
      assert.ok(!sinks.any.messages.some(to('h4@HostPort.Example')))
    })

    it('a route that cannot be read defers the mail: delivered nowhere, logged with its line', async () => {
      // refused at RCPT for a client that would need the entry
      const c = await Smtp.open({ port, localAddress: OTHER_CLIENT })
      try {
        await c.ehlo()
        await c.send('MAIL FROM:<sender@client.example>')
        const r = await c.send('RCPT TO:<ivan@broken.example>')
        assert.equal(r.code, 550, r.text)
      } finally {
        await c.quit()
      }
      // accepted from the ACL client, then never guessed at by outbound
      const rcpt = 'judy@broken.example'
      await send(ACL_CLIENT, [rcpt], 'broken')
      const deadline = Date.now() + 15000
      while (!/invalid route for broken\.example in relay_dest_domains\.ini line \d+/.test(haraka.output)) {
        assert.ok(Date.now() < deadline, `no deferral logged:\n${haraka.tail()}`)
        await sleep(200)
      }
      await sleep(500)
      for (const s of Object.values(sinks)) assert.ok(!s.messages.some(to(rcpt)), `${s.name} got mail for a broken route`)
      assert.match(haraka.output, /get_mx plugin returned DENYSOFT/)
    })

    it(nodes ? 'Haraka is still running, and both workers served sessions' : 'Haraka is still running', () => {
      assert.ok(haraka.alive(), haraka.tail())
      assertWorkersServed(haraka, port, nodes)
    })
  })
}

module.exports = { routesSuite }
