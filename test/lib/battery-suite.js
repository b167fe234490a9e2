'use strict'
// The open-relay battery: from a client address outside relay_acl_allow,
// without AUTH, with one domain (example.org) listed as accept, the classic
// tricks for getting a relay to carry mail to a domain it does not serve,
// aimed at unlisted domains. Every SMTP answer is asserted; and since
// force_routing sends example.org to one sink and every other domain (`any`)
// to a second, "leak" sink, the test also checks what actually left Haraka:
// every recipient delivered went by example.org's route, and the leak sink
// got nothing.
//
// Why an address whose domain (the part after the last @, as RFC 5321 reads
// it) is example.org may be accepted even though it mentions evil.test: the
// message is routed to example.org's server and nowhere else; what that
// server makes of a % or ! in the local part is its own policy. The relay
// question this plugin answers is "may this client send to that domain".
//
// Used by haraka-relay-battery.test.js (one process) and
// haraka-cluster.test.js (nodes=2).

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, RawSink, Smtp, assertWorkersServed, freePort, sleep } = require('./haraka')

const CLIENT = '127.0.0.77' // not in relay_acl_allow
const ACL_CLIENT = '127.0.0.2'

const label63 = 'a'.repeat(63)
// 240 octets: a path of 246 with "<v@...>", under RFC 5321's 256
const LONG_UNLISTED = `${label63}.${label63}.${label63}.${'b'.repeat(43)}.test`
// 211 octets ending in the listed domain: a subdomain is not the domain
const LONG_SUBDOMAIN = `${'x.'.repeat(100)}example.org`

// Each case: why it is here, the envelope (MAIL FROM and RCPT lines), and
// the expected code of each RCPT. `to` is an address put in <>; `line` is a
// whole RCPT command as sent. A case whose recipients got a 250 sends DATA.
const CASES = [
  {
    name: 'baseline',
    why: 'the listed domain is accepted and an unlisted one refused: the ground the rest stands on',
    rcpts: [{ to: 'user@example.org', code: 250 }, { to: 'victim@evil.test', code: 550 }],
  },
  {
    name: 'percent hack',
    why: 'user%evil.test@relay was once forwarded by sendmail-style relays to evil.test. The domain is the one after the last @: "victim%example.org@evil.test" is for evil.test and refused; the reverse is for example.org (delivered there, % and all); a % in the domain itself is not an address',
    rcpts: [
      { to: 'victim%example.org@evil.test', code: 550 },
      { to: 'victim%evil.test@example.org', code: 250 },
      { to: 'victim@example.org%evil.test', code: 501 },
    ],
  },
  {
    name: 'bang path',
    why: 'UUCP paths (host!user) were routed by some MTAs; only the domain after @ decides. A bare bang path has no domain at all and is a syntax error',
    rcpts: [
      { to: 'example.org!victim@evil.test', code: 550 },
      { to: 'evil.test!victim@example.org', code: 250 },
      { to: 'evil.test!victim', code: 501 },
    ],
  },
  {
    name: 'source route',
    why: 'RFC 5321 says a source route (<@hop:user@domain>) is accepted and ignored; naming the listed domain as a hop must not carry mail to evil.test, and a hop at evil.test in front of example.org is dropped',
    rcpts: [
      { to: '@example.org:victim@evil.test', code: 550 },
      { to: '@example.org,@example.org:victim@evil.test', code: 550 },
      { to: '@evil.test:victim@example.org', code: 250, delivered: 'victim@example.org' },
    ],
  },
  {
    name: 'quoted local part holding an @',
    why: 'a quoted local part may contain @; a parser that splits at the first @ would see the wrong domain',
    rcpts: [
      { to: '"victim@example.org"@evil.test', code: 550 },
      { to: '"victim@evil.test"@example.org', code: 250 },
      { to: '"victim"@evil.test', code: 550 },
    ],
  },
  {
    name: 'domain literal',
    why: 'an address literal names a host, not a listed domain: [192.0.2.1], this very host [127.0.0.1], IPv6 [::1], and a literal that is not an address',
    rcpts: [
      { to: 'victim@[192.0.2.1]', code: 550 },
      { to: 'victim@[127.0.0.1]', code: 550 },
      { to: 'victim@[IPv6:::1]', code: 550 },
      { to: 'victim@[example.org]', code: 501 },
    ],
  },
  {
    name: 'trailing dot',
    why: 'example.org. is the same DNS name as example.org; an MTA that strips the dot after deciding, or matches before stripping, could disagree with itself. Haraka refuses the syntax, so neither form gets as far as the relay decision',
    rcpts: [
      { to: 'victim@evil.test.', code: 501 },
      { to: 'victim@example.org.', code: 501 },
      { to: 'victim@example..org', code: 501 },
      { to: 'victim@.example.org', code: 501 },
    ],
  },
  {
    name: 'mixed case',
    why: 'domains are case-insensitive: the listed domain in any case is accepted (and routed as example.org), an unlisted one in any case is refused',
    rcpts: [
      { to: 'victim@EXAMPLE.ORG', code: 250 },
      { to: 'victim@Example.Org', code: 250 },
      { to: 'victim@EVIL.TEST', code: 550 },
      { to: 'victim@Evil.Test', code: 550 },
    ],
  },
  {
    name: 'null sender',
    why: 'a bounce (MAIL FROM:<>) gets no privilege: it may reach the listed domain and nothing else',
    from: '',
    rcpts: [{ to: 'victim@evil.test', code: 550 }, { to: 'user@example.org', code: 250 }],
  },
  {
    name: 'recipients without a domain',
    why: 'a null recipient and a bare local part have no domain to be listed: refused (a local postmaster would be vouched for by an rcpt_to plugin, not by relaying)',
    rcpts: [{ to: '', code: 550 }, { to: 'postmaster', code: 550 }],
  },
  {
    name: 'very long domains',
    why: 'length limits are where parsers truncate: a long unlisted domain, a deep subdomain of the listed one (a subdomain is not the domain), a label over 63 octets, a path over 256 octets',
    rcpts: [
      { to: `v@${LONG_UNLISTED}`, code: 550 },
      { to: `v@${LONG_SUBDOMAIN}`, code: 550 },
      { to: `v@${'c'.repeat(64)}.example.org`, code: 501 },
      { to: `v@${label63}.${label63}.${label63}.${label63}.test`, code: 501 },
    ],
  },
  {
    name: 'a command line too long',
    why: 'a domain of thousands of octets: the line is refused before any parsing, and the connection ends',
    rcpts: [{ to: `v@${'d'.repeat(3000)}.example.org`, code: 521 }],
    closes: true,
  },
  {
    name: 'listed domain as prefix or suffix of an unlisted one',
    why: 'string matching without label boundaries (startsWith, endsWith, includes) would accept these',
    rcpts: [
      { to: 'victim@example.org.evil.test', code: 550 },
      { to: 'victim@evil-example.org', code: 550 },
      { to: 'victim@evilexample.org', code: 550 },
      { to: 'victim@example.org-evil.test', code: 550 },
      { to: 'victim@sub.example.org', code: 550 },
      { to: 'victim@example.or', code: 550 },
      { to: 'victim@xample.org', code: 550 },
    ],
  },
  {
    name: 'several recipients mixing listed and unlisted domains',
    why: 'haraka-plugin-relay 1.0.2 marks the whole transaction as relaying after one accepted recipient, so every later one, to any domain, passes: each recipient must be decided on its own, whatever the order',
    rcpts: [
      { to: 'a@example.org', code: 250 },
      { to: 'victim1@evil.test', code: 550 },
      { to: 'b@example.org', code: 250 },
      { to: 'victim2@example.org.evil.test', code: 550 },
      { to: 'c@EXAMPLE.org', code: 250 },
      { to: 'victim3@other.test', code: 550 },
    ],
  },
  {
    name: 'unlisted first, then listed, then unlisted',
    why: 'the same in the other order',
    rcpts: [
      { to: 'victim1@evil.test', code: 550 },
      { to: 'a@example.org', code: 250 },
      { to: 'victim2@evil.test', code: 550 },
    ],
  },
  {
    name: 'two addresses in one RCPT',
    why: 'a parser that takes the first <...> and ignores the rest, or splits at commas, would decide on one address and deliver to another',
    rcpts: [
      { line: 'RCPT TO:<a@example.org> <victim@evil.test>', code: 501 },
      { line: 'RCPT TO:<a@example.org>,<victim@evil.test>', code: 501 },
      { line: 'RCPT TO:a@example.org,victim@evil.test', code: 501 },
      { line: 'RCPT TO:<<victim@evil.test>', code: 501 },
      { line: 'RCPT TO:<victim@example.org>>', code: 501 },
    ],
  },
  {
    name: 'unbracketed address and ESMTP parameters',
    why: 'Haraka accepts RCPT TO:addr without <>; parameters after the address are not addresses (an ORCPT naming evil.test is only a note for DSNs)',
    rcpts: [
      { line: 'RCPT TO:victim@evil.test', code: 550 },
      { line: 'RCPT TO: <victim@evil.test>', code: 550 },
      { line: 'RCPT TO:<victim@evil.test> NOTIFY=NEVER', code: 550 },
      { line: 'RCPT TO:<a@example.org> ORCPT=rfc822;victim@evil.test', code: 250, delivered: 'a@example.org' },
    ],
  },
  {
    name: 'control characters',
    why: 'a NUL or other control byte would cut the domain short in a C string ("example.org\\0.evil.test" read as example.org); Haraka refuses such an address',
    rcpts: [
      { line: 'RCPT TO:<victim@example.org\u0000.evil.test>', code: 501 },
      { line: 'RCPT TO:<victim@example.org\u0001.evil.test>', code: 501 },
      { line: 'RCPT TO:<victim@example.org\t.evil.test>', code: 501 },
    ],
  },
  {
    name: 'international domains',
    why: 'IDNs are compared in their ASCII (punycode) form: exämple.org is xn--exmple-cua.org, not example.org; fullwidth letters are mapped by IDNA (UTS 46) to example.org itself, so that one is the listed domain and is routed as example.org',
    rcpts: [
      { to: 'victim@exämple.org', code: 550 },
      { to: 'victim@xn--exmple-cua.org', code: 550 },
      { to: 'victim@ｅｘａｍｐｌｅ.org', code: 250 },
    ],
  },
]

function batterySuite({ nodes = 0 } = {}) {
  describe(`open-relay battery against relay-wasm (nodes=${nodes})`, { timeout: 120000 }, () => {
    let haraka
    let port
    let routed // example.org's nexthop
    let leak // `any`: whatever else Haraka would deliver
    const accepted = [] // recipients that got a 250, as they should arrive

    before(async () => {
      routed = await new RawSink({ name: 'example-org' }).start()
      leak = await new RawSink({ name: 'leak' }).start()
      port = await freePort()
      haraka = new Haraka({
        name: `battery-n${nodes}`,
        nodes,
        listen: [`127.0.0.1:${port}`],
        plugins: ['relay-wasm'], // relayed mail goes to outbound, for real
        files: {
          'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\nall=false\n',
          relay_acl_allow: `${ACL_CLIENT}\n`,
          'relay_dest_domains.ini': [
            '[domains]',
            `example.org = { "action": "accept", "nexthop": "${routed.hostport}" }`,
            `any = { "nexthop": "${leak.hostport}" }`,
            '',
          ].join('\n'),
        },
      })
      await haraka.start()
    })

    after(async () => {
      await haraka?.stop()
      await routed?.stop()
      await leak?.stop()
    })

    for (const kase of CASES) {
      it(`${kase.name}: ${kase.why}`, async () => {
        const c = await Smtp.open({ port, localAddress: CLIENT })
        try {
          assert.equal((await c.ehlo()).code, 250)
          const from = kase.from ?? 'sender@client.example'
          assert.equal((await c.send(`MAIL FROM:<${from}>`)).code, 250)
          const got = []
          for (const r of kase.rcpts) {
            const line = r.line ?? `RCPT TO:<${r.to}>`
            const reply = await c.send(line)
            got.push(reply.code)
            if (reply.code === 250) accepted.push(r.delivered ?? r.to)
            if (kase.closes) break
          }
          assert.deepEqual(got, kase.rcpts.map((r) => r.code), `${kase.name}: ${JSON.stringify(kase.rcpts.map((r) => r.line ?? r.to))}`)
          if (got.includes(250)) {
            const d = await c.data(`Subject: battery ${kase.name}\r\n\r\n${kase.why}\r\n`)
            assert.equal(d.code, 250, d.text)
          }
        } finally {
          await c.quit()
        }
      })
    }

    it('a listed recipient does not open relaying for the next transaction (RSET, or a new MAIL after DATA)', async () => {
      const c = await Smtp.open({ port, localAddress: CLIENT })
      try {
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<s@client.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<a@example.org>')).code, 250)
        assert.equal((await c.send('RSET')).code, 250)
        assert.equal((await c.send('MAIL FROM:<s@client.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<victim@evil.test>')).code, 550)
        assert.equal((await c.send('RCPT TO:<b@example.org>')).code, 250)
        accepted.push('b@example.org')
        assert.equal((await c.data('Subject: battery first\r\n\r\nfirst\r\n')).code, 250)
        assert.equal((await c.send('MAIL FROM:<s@client.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<victim@evil.test>')).code, 550)
      } finally {
        await c.quit()
      }
    })

    it('pipelined recipients are decided one by one', async () => {
      const c = await Smtp.open({ port, localAddress: CLIENT })
      try {
        assert.ok((await c.ehlo()).keywords.includes('PIPELINING'))
        c.sock.write('MAIL FROM:<s@client.example>\r\nRCPT TO:<p1@example.org>\r\nRCPT TO:<victim@evil.test>\r\nRCPT TO:<p2@example.org>\r\nRCPT TO:<victim@example.org.evil.test>\r\n')
        const codes = []
        for (let i = 0; i < 5; i++) codes.push((await c.reply()).code)
        assert.deepEqual(codes, [250, 250, 550, 250, 550])
        accepted.push('p1@example.org', 'p2@example.org')
        assert.equal((await c.data('Subject: battery pipelined\r\n\r\npipelined\r\n')).code, 250)
      } finally {
        await c.quit()
      }
    })

    it('what left Haraka: every accepted recipient, all by example.org\'s route, nothing to any other', async () => {
      const count = () => routed.messages.reduce((n, m) => n + m.rcptTo.length, 0)
      const deadline = Date.now() + 30000
      while (count() < accepted.length) {
        assert.ok(Date.now() < deadline, `delivered ${count()} of ${accepted.length}: ${JSON.stringify({ accepted, delivered: routed.messages.flatMap((m) => m.rcptTo), leaked: leak.messages })}\n${haraka.tail()}`)
        await sleep(200)
      }
      await sleep(1000) // anything more would show up now
      const delivered = routed.messages.flatMap((m) => m.rcptTo)
      assert.deepEqual([...delivered].sort(), [...accepted].sort())
      for (const rcpt of delivered) {
        // the domain as RFC 5321 reads it, IDNA-mapped as Haraka maps it
        const domain = rcpt.slice(rcpt.lastIndexOf('@') + 1).normalize('NFKC').toLowerCase()
        assert.equal(domain, 'example.org', rcpt)
      }
      assert.deepEqual(leak.messages.map((m) => m.rcptTo), [], 'nothing may go anywhere but example.org')
      assert.ok(haraka.alive(), haraka.tail())
      assertWorkersServed(haraka, port, nodes)
    })
  })
}

module.exports = { batterySuite, CASES }
