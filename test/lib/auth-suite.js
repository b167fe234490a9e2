'use strict'
// SMTP AUTH and TLS as the manual (relay-plugin.txt, "Authentication") shows
// them, in a real Haraka with its tls plugin, auth/flat_file and relay-wasm:
//
//  - on a plain connection EHLO offers STARTTLS and no AUTH; after STARTTLS
//    it offers AUTH PLAIN LOGIN;
//  - a client that authenticated relays to any domain; one that did not,
//    from an address outside relay_acl_allow, is refused for a domain that is
//    not listed;
//  - port 587 refuses MAIL FROM without AUTH; port 465 is TLS from the first
//    byte (SMTPS, RFC 8314) and AUTH works there.
//
// Used by haraka-auth.test.js (one process) and haraka-cluster.test.js
// (nodes=2).
//
// Two facts of Haraka 3.3.4 shape the test:
//  - auth/flat_file offers AUTH on a plain connection to a client whose
//    address is private or local (127/8 and ::1 are), so the manual's
//    "no AUTH before TLS" holds for clients at public addresses. Such a client
//    is presented here the way a load balancer presents it: a PROXY protocol
//    line from a loopback address listed in connection.ini [haproxy] hosts,
//    naming 2001:db8::25 (documentation space, never routed; nothing is sent
//    to it) as the client.
//  - Haraka requires AUTH on ports 587 and 465 by the port number
//    (connection.js cmd_mail), so those listeners really are on 587 and 465:
//    of a random address in 127.0.0.0/8 (root may listen there; the C test
//    machine runs as root).

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, Smtp, assertWorkersServed, canListen, freePort, makeTlsFiles, randomLoopback, transaction } = require('./haraka')

const USER = 'relayuser'
const PASS = 'c0rrect horse; battery staple'
const ACL_CLIENT = '127.0.0.2' // listed in relay_acl_allow
const LOCAL_CLIENT = '127.0.0.3' // a loopback client that is not listed
const PROXY_PEER = '127.0.0.99' // the "load balancer" allowed to send PROXY lines
const PUBLIC_CLIENT = '2001:db8::25' // the client the PROXY line names

const MESSAGE = 'From: <sender@client.example>\r\nSubject: relay-wasm auth test\r\n\r\nhello\r\n'

function authSuite({ nodes = 0 } = {}) {
  describe(`SMTP AUTH and TLS with relay-wasm (nodes=${nodes})`, { timeout: 90000 }, () => {
    let haraka
    let plainPort
    let subHost // the loopback address of the 587 and 465 listeners
    let ca // the throw-away certificate: clients verify the server with it
    let submissionSkip = null // why 587/465 cannot be listened on here, if so

    before(async () => {
      plainPort = await freePort()
      subHost = randomLoopback()
      const err587 = await canListen(subHost, 587)
      const err465 = await canListen(subHost, 465)
      if (err587 || err465) submissionSkip = `cannot listen on ${subHost}:587/465 (${err587 || err465}); run as root`
      const listen = [`127.0.0.1:${plainPort}`]
      if (!submissionSkip) listen.push(`${subHost}:587`, `${subHost}:465`)

      haraka = new Haraka({
        name: `auth-n${nodes}`,
        nodes,
        listen,
        proxyHosts: [PROXY_PEER],
        plugins: ['tls', 'auth/flat_file', 'relay-wasm', 'queue/discard'],
        files: {
          'tls.ini': '[main]\nkey=tls_key.pem\ncert=tls_cert.pem\ndhparam=dhparams.pem\n',
          'auth_flat_file.ini': `[core]\nmethods=PLAIN,LOGIN\nconstrain_sender=false\n\n[users]\n${USER}=${PASS}\n`,
          'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\nall=false\n',
          relay_acl_allow: `${ACL_CLIENT}\n`,
          'relay_dest_domains.ini': '[domains]\nlisted.example = { "action": "accept" }\n',
        },
        setup: (h) => (ca = makeTlsFiles(h.cfg).cert),
      })
      await haraka.start()
    })

    after(async () => {
      await haraka?.stop()
    })

    // A client at a public address, arriving through the PROXY peer.
    function publicClient(port = plainPort, host = '127.0.0.1') {
      return Smtp.open({
        port,
        host,
        localAddress: PROXY_PEER,
        proxy: `PROXY TCP6 ${PUBLIC_CLIENT} ::1 40025 ${port}`,
      })
    }

    const hasAuth = (ehlo) => ehlo.keywords.some((k) => /^AUTH\b/.test(k))
    const hasStarttls = (ehlo) => ehlo.keywords.includes('STARTTLS')

    it('plain connection: EHLO offers STARTTLS and no AUTH; after STARTTLS, AUTH PLAIN LOGIN (manual example)', async (t) => {
      const ports = [[plainPort, '127.0.0.1']]
      if (!submissionSkip) ports.push([587, subHost])
      for (const [port, host] of ports) {
        const c = await publicClient(port, host)
        try {
          let e = await c.ehlo()
          assert.equal(e.code, 250)
          assert.ok(hasStarttls(e), `port ${port}: STARTTLS offered: ${e.keywords}`)
          assert.ok(!hasAuth(e), `port ${port}: no AUTH before TLS: ${e.keywords}`)
          // credentials offered in clear text are not even looked at
          assert.notEqual((await c.authPlain(USER, PASS)).code, 235)
          await c.starttls({ ca })
          e = await c.ehlo()
          assert.equal(e.code, 250)
          assert.ok(e.keywords.includes('AUTH PLAIN LOGIN'), `port ${port}: ${e.keywords}`)
          assert.ok(!hasStarttls(e), 'no STARTTLS once TLS is on')
        } finally {
          await c.quit()
        }
      }
      if (submissionSkip) assert.fail(`port 587 not checked: ${submissionSkip}`)
    })

    it('without AUTH, a client outside relay_acl_allow is refused for an unlisted domain, with or without TLS', async () => {
      // public client, TLS on, no AUTH
      const c = await publicClient()
      try {
        await c.ehlo()
        await c.starttls({ ca })
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        const r = await c.send('RCPT TO:<victim@unlisted.example>')
        assert.equal(r.code, 550, r.text)
        assert.match(r.text, /You are not allowed to relay/)
        // a listed domain is still accepted (dest_domains)
        assert.equal((await c.send('RCPT TO:<user@listed.example>')).code, 250)
        // and accepting it opened nothing
        assert.equal((await c.send('RCPT TO:<victim2@unlisted.example>')).code, 550)
      } finally {
        await c.quit()
      }
      // loopback client, plain, no AUTH
      const r = await transaction(plainPort, LOCAL_CLIENT, ['victim@unlisted.example', 'user@listed.example'], { message: MESSAGE })
      assert.deepEqual(r.codes, [550, 250])
      assert.equal(r.data, 250)
    })

    it('a client that authenticated (PLAIN or LOGIN) after STARTTLS relays to any domain', async () => {
      for (const method of ['PLAIN', 'LOGIN']) {
        const c = await publicClient()
        try {
          await c.ehlo()
          await c.starttls({ ca })
          await c.ehlo()
          const a = method === 'PLAIN' ? await c.authPlain(USER, PASS) : await c.authLogin(USER, PASS)
          assert.equal(a.code, 235, `AUTH ${method}: ${a.text}`)
          assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
          for (const rcpt of ['a@unlisted.example', 'b@another-unlisted.test', 'c@listed.example']) {
            const r = await c.send(`RCPT TO:<${rcpt}>`)
            assert.equal(r.code, 250, `${method} ${rcpt}: ${r.text}`)
          }
          assert.equal((await c.data(MESSAGE)).code, 250)
        } finally {
          await c.quit()
        }
      }
    })

    it('a wrong password is refused and relays nothing', async () => {
      const c = await publicClient()
      try {
        await c.ehlo()
        await c.starttls({ ca })
        await c.ehlo()
        const a = await c.authPlain(USER, 'wrong password')
        assert.equal(a.code, 535, a.text)
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        const r = await c.send('RCPT TO:<victim@unlisted.example>')
        assert.equal(r.code, 550, r.text)
      } finally {
        await c.quit()
      }
    })

    it('port 587: MAIL FROM without AUTH is refused, with AUTH the client relays', async (t) => {
      if (submissionSkip) assert.fail(submissionSkip) // never a silent skip: run npm test as root
      // plain, no AUTH
      let c = await Smtp.open({ port: 587, host: subHost, localAddress: LOCAL_CLIENT })
      try {
        const e = await c.ehlo()
        assert.ok(hasStarttls(e), `${e.keywords}`)
        const r = await c.send('MAIL FROM:<sender@client.example>')
        assert.equal(r.code, 550, r.text)
        assert.match(r.text, /Authentication required/)
        // TLS alone is not authentication
        await c.starttls({ ca })
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 550)
        // AUTH on the TLS session: now the client may send, to any domain
        assert.equal((await c.authPlain(USER, PASS)).code, 235)
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<a@unlisted.example>')).code, 250)
        assert.equal((await c.data(MESSAGE)).code, 250)
      } finally {
        await c.quit()
      }
      // An address in relay_acl_allow is relaying from connect on, and Haraka
      // lets a relaying client send on 587 without AUTH (as with
      // haraka-plugin-relay): listing an address there exempts it from AUTH.
      c = await Smtp.open({ port: 587, host: subHost, localAddress: ACL_CLIENT })
      try {
        await c.ehlo()
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<a@unlisted.example>')).code, 250)
      } finally {
        await c.quit()
      }
    })

    it('port 465: TLS from the first byte (SMTPS); MAIL FROM needs AUTH, AUTH relays', async (t) => {
      if (submissionSkip) assert.fail(submissionSkip) // never a silent skip: run npm test as root
      // A clear-text client gets no banner: the server waits for a TLS hello.
      const heard = await new Promise((resolve) => {
        const net = require('node:net')
        const s = net.connect({ host: subHost, port: 465, localAddress: LOCAL_CLIENT })
        let got = Buffer.alloc(0)
        s.on('data', (d) => (got = Buffer.concat([got, d])))
        s.on('error', () => {})
        s.once('connect', () => {
          setTimeout(() => {
            const before = got.length
            s.write('EHLO client.relay-wasm.test\r\n')
            setTimeout(() => {
              s.destroy()
              resolve({ before, got })
            }, 1000)
          }, 1000)
        })
      })
      assert.equal(heard.before, 0, 'nothing in clear text before the client speaks TLS')
      assert.doesNotMatch(heard.got.toString('latin1'), /^[0-9]{3}[ -]/, 'no SMTP reply in clear text')

      const c = await Smtp.open({ port: 465, host: subHost, localAddress: LOCAL_CLIENT, tls: { ca } })
      try {
        assert.equal(c.greeting.code, 220)
        assert.ok(c.secure)
        const e = await c.ehlo()
        assert.ok(e.keywords.includes('AUTH PLAIN LOGIN'), `${e.keywords}`)
        assert.ok(!hasStarttls(e), 'no STARTTLS on an SMTPS connection')
        const r = await c.send('MAIL FROM:<sender@client.example>')
        assert.equal(r.code, 550, r.text)
        assert.match(r.text, /Authentication required/)
        assert.equal((await c.authLogin(USER, PASS)).code, 235)
        assert.equal((await c.send('MAIL FROM:<sender@client.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<a@unlisted.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<b@elsewhere.test>')).code, 250)
        assert.equal((await c.data(MESSAGE)).code, 250)
      } finally {
        await c.quit()
      }
    })

    it(nodes ? 'Haraka is still running, and both workers served sessions' : 'Haraka is still running', () => {
      assert.ok(haraka.alive(), haraka.tail())
      assertWorkersServed(haraka, plainPort, nodes)
    })
  })
}

module.exports = { authSuite }
