'use strict'
// A grant from relay_dest_domains.ini covers its one recipient, for every
// plugin and across reloads: a real Haraka (node_modules/Haraka) with
// relay-wasm next to the rcpt plugins admins run with it, which trust
// connection.relaying:
//   - rcpt_to.in_host_list accepts any recipient while relaying is set and
//     the sender is local;
//   - qmail-deliverable (npm haraka-plugin-qmail-deliverable, asking a
//     qmail-deliverabled stub on loopback) accepts any recipient while
//     relaying is set.
// Each is run before and after relay-wasm in config/plugins.  A client
// outside relay_acl_allow names a listed domain first and then tries other
// domains in the same transaction; then each of the three config files is
// rewritten between two recipients of one open transaction.
//
//   node --test test/haraka-grant-scope.test.js

const assert = require('node:assert/strict')
const http = require('node:http')
const path = require('node:path')
const fs = require('node:fs')
const { after, before, describe, it } = require('node:test')

const { Haraka, REPO, Smtp, freePort } = require('./lib/haraka')

const CLIENT = '127.0.0.3' // never in relay_acl_allow
const RELAY_INI = '[relay]\nacl=true\ndest_domains=true\n'
const DOMAINS = [
  '[domains]',
  'accept.example = {"action":"accept"}',
  'continue.example = {"action":"continue"}',
  'local.example = {"action":"continue"}',
  '',
].join('\n')

// qmail-deliverabled's answer for an address: 0xf1 (normal delivery) for
// local.example, 0xff (not local) for anything else.
function qmdStub() {
  const asked = []
  const server = http.createServer((req, res) => {
    const email = decodeURIComponent(String(req.url).split('?')[1] || '')
    asked.push(email)
    res.writeHead(200, { 'Content-Type': 'text/plain' })
    res.end(email.toLowerCase().endsWith('@local.example') ? String(0xf1) : String(0xff))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, asked, port: server.address().port })))
}

// Says which queue Haraka handed each message to: queue_outbound (relayed
// mail) or queue (inbound); queue/discard then takes it.
const QUEUE_PROBE = `'use strict'
exports.hook_queue_outbound = function (next, connection) {
  connection.loginfo(this, 'QUEUE-PROBE outbound ' + connection.transaction.rcpt_to.join(' '))
  next()
}
exports.hook_queue = function (next, connection) {
  connection.loginfo(this, 'QUEUE-PROBE inbound ' + connection.transaction.rcpt_to.join(' '))
  next()
}
`

const SETUPS = []
for (const rcptPlugin of ['rcpt_to.in_host_list', 'qmail-deliverable']) {
  for (const where of ['before', 'after']) SETUPS.push({ rcptPlugin, where, name: `${rcptPlugin} ${where} relay-wasm` })
}

// Waits for the plugin's "<file> in force" line that follows a write.
function inForce(haraka, file, since) {
  const deadline = Date.now() + 20000
  return new Promise((resolve, reject) => {
    const check = () => {
      if (haraka.output.slice(since).includes(`${file} in force`)) return resolve()
      if (Date.now() > deadline) return reject(new Error(`${file} was not reloaded in 20 s:\n${haraka.tail(3000)}`))
      setTimeout(check, 100)
    }
    check()
  })
}

describe('a dest_domains grant covers one recipient, for every rcpt plugin', { timeout: 120000 }, () => {
  let qmd
  const servers = []

  before(async () => {
    qmd = await qmdStub()
    await Promise.all(
      SETUPS.map(async (s) => {
        const port = await freePort()
        const plugins = s.where === 'before' ? [s.rcptPlugin, 'relay-wasm'] : ['relay-wasm', s.rcptPlugin]
        plugins.push('queue_probe', 'queue/discard')
        s.port = port
        s.haraka = new Haraka({
          name: 'grant',
          listen: [`127.0.0.1:${port}`],
          plugins,
          files: {
            'relay.ini': RELAY_INI,
            relay_acl_allow: '',
            'relay_dest_domains.ini': DOMAINS,
            host_list: 'local.example\n',
            'qmail-deliverable.ini': `[main]\ncheck_mail_from=true\nhost=127.0.0.1\nport=${qmd.port}\n`,
          },
          setup(h) {
            fs.writeFileSync(path.join(h.dir, 'plugins', 'queue_probe.js'), QUEUE_PROBE)
            const mod = 'haraka-plugin-qmail-deliverable'
            fs.symlinkSync(path.join(REPO, 'node_modules', mod), path.join(h.dir, 'node_modules', mod), 'dir')
          },
        })
        await s.haraka.start()
        servers.push(s.haraka)
      }),
    )
  })

  after(async () => {
    await Promise.all(servers.map((h) => h.stop()))
    qmd?.server.close()
  })

  async function session(s) {
    const c = await Smtp.open({ port: s.port, localAddress: CLIENT })
    assert.equal((await c.ehlo()).code, 250)
    assert.equal((await c.send('MAIL FROM:<a@local.example>')).code, 250)
    return c
  }
  const rcpt = async (c, addr) => (await c.send(`RCPT TO:<${addr}>`)).code

  for (const s of SETUPS) {
    it(`${s.name}: without a grant, a stranger's domain is refused`, async () => {
      const c = await session(s)
      try {
        assert.equal(await rcpt(c, 'victim@evil.example'), 550)
        // the rcpt plugin still does its own job
        assert.equal(await rcpt(c, 'user@local.example'), 250)
      } finally {
        await c.quit()
      }
    })

    it(`${s.name}: after accept and continue grants, other domains are still refused; DATA is relayed`, async () => {
      const c = await session(s)
      try {
        assert.equal(await rcpt(c, 'x@accept.example'), 250)
        assert.equal(await rcpt(c, 'victim@evil.example'), 550)
        assert.equal(await rcpt(c, 'other@elsewhere.example'), 550)
        assert.equal(await rcpt(c, 'y@continue.example'), 250)
        assert.equal(await rcpt(c, 'victim2@evil.example'), 550)
        assert.equal(await rcpt(c, 'z@accept.example'), 250)
        assert.equal(await rcpt(c, 'user@local.example'), 250)
        assert.equal((await c.data('Subject: grant scope\r\n\r\nhello\r\n')).code, 250)
      } finally {
        await c.quit()
      }
      // the message went to the outbound queue (relayed mail), as with 1.0.2
      assert.match(
        s.haraka.output,
        /QUEUE-PROBE outbound <x@accept\.example> <y@continue\.example> <z@accept\.example> <user@local\.example>/,
      )
    })
  }

  it('each of the three files reloaded between two recipients of one transaction grants nothing further', async () => {
    await Promise.all(
      SETUPS.map(async (s) => {
        const h = s.haraka
        const c = await session(s)
        try {
          assert.equal(await rcpt(c, 'x@accept.example'), 250, s.name)

          let mark = h.output.length
          h.writeAtomic('relay_acl_allow', '192.0.2.1/32\n')
          await inForce(h, 'relay_acl_allow', mark)
          assert.equal(await rcpt(c, 'victim@evil.example'), 550, `${s.name}: after relay_acl_allow reload`)

          mark = h.output.length
          h.writeAtomic('relay_dest_domains.ini', '[domains]\ncontinue.example = {"action":"continue"}\n')
          await inForce(h, 'relay_dest_domains.ini', mark)
          assert.equal(await rcpt(c, 'victim@evil.example'), 550, `${s.name}: after relay_dest_domains.ini reload`)
          assert.equal(await rcpt(c, 'x2@accept.example'), 550, `${s.name}: the removed entry is gone`)
          assert.equal(await rcpt(c, 'y@continue.example'), 250, s.name)

          mark = h.output.length
          h.writeAtomic('relay.ini', '[relay]\nacl=true\ndest_domains=false\n')
          await inForce(h, 'relay.ini', mark)
          assert.equal(await rcpt(c, 'victim@evil.example'), 550, `${s.name}: after relay.ini reload (dest_domains=false)`)
          assert.equal(await rcpt(c, 'y2@continue.example'), 550, `${s.name}: dest_domains is off now`)
          assert.equal(await rcpt(c, 'user@local.example'), 250, s.name)
          assert.equal((await c.data('Subject: reloads\r\n\r\nhello\r\n')).code, 250)
        } finally {
          await c.quit()
        }
      }),
    )
  })
})
