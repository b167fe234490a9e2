'use strict'
// End to end: a real Haraka (node_modules/Haraka) with relay-wasm loaded from
// this repo, spoken to over SMTP from several loopback source addresses
// (Linux routes all of 127/8 to lo). Haraka is started by test/lib/haraka.js,
// which the haraka-*.test.js suites share.
//
//   node --test test/e2e.test.js

const assert = require('node:assert/strict')
const fs = require('node:fs')
const { after, before, describe, it } = require('node:test')

const { Haraka, freePort, sleep, transaction } = require('./lib/haraka')

const ACL_CLIENT = '127.0.0.2' // listed in relay_acl_allow
const OTHER_CLIENT = '127.0.0.3' // never listed
const LATE_CLIENT = '127.0.0.4' // added to relay_acl_allow while Haraka runs

const RELAY_INI = '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\nall=false\n'
const DOMAINS = [
  '[domains]',
  'accept.example = { "action": "accept" }',
  'continue.example = { "action": "continue" }',
  'deny.example = { "action": "deny" }',
  'route-only.example = { "nexthop": "192.0.2.26" }',
  'broken.example = { "action": "accept"',
  '',
].join('\n')

let port
let haraka

// One transaction from `from`: EHLO, MAIL, each RCPT, DATA if any recipient
// was accepted. Returns the RCPT codes and texts and the final DATA code (or null).
function send(from, rcpts) {
  return transaction(port, from, rcpts, { message: 'Subject: relay-wasm e2e\r\n\r\nhello\r\n' })
}

describe('relay-wasm in a real Haraka', { timeout: 60000 }, () => {
  before(async () => {
    port = await freePort()
    haraka = new Haraka({
      name: 'e2e',
      listen: [`127.0.0.1:${port}`],
      plugins: ['relay-wasm', 'queue/discard'],
      files: {
        'relay.ini': RELAY_INI,
        relay_acl_allow: `${ACL_CLIENT}/32\n`,
        'relay_dest_domains.ini': DOMAINS,
      },
    })
    await haraka.start()
  })

  after(async () => {
    await haraka?.stop()
  })

  it('logs the diagnostics of the config files at start', () => {
    assert.match(haraka.output, /relay_dest_domains\.ini:6(?::\d+)?: error: .+ \[[\w-]+\]/)
  })

  it('an ACL client relays to any domain', async () => {
    const r = await send(ACL_CLIENT, ['a@anywhere.example', 'b@deny.example', 'c@elsewhere.example'])
    assert.deepEqual(r.codes, [250, 250, 250])
    assert.equal(r.data, 250)
  })

  it('a client not in the ACL is refused for an unlisted domain', async () => {
    const r = await send(OTHER_CLIENT, ['a@anywhere.example'])
    assert.deepEqual(r.codes, [550])
    assert.match(r.texts[0], /You are not allowed to relay/)
  })

  it('dest_domains: accept and continue relay, deny, route-only and broken entries refuse', async () => {
    let r = await send(OTHER_CLIENT, ['a@accept.example'])
    assert.deepEqual(r.codes, [250])
    assert.equal(r.data, 250)
    r = await send(OTHER_CLIENT, ['a@continue.example'])
    assert.deepEqual(r.codes, [250])
    assert.equal(r.data, 250)
    r = await send(OTHER_CLIENT, ['a@deny.example'])
    assert.deepEqual(r.codes, [550])
    assert.match(r.texts[0], /You are not allowed to relay/)
    r = await send(OTHER_CLIENT, ['a@route-only.example', 'b@broken.example'])
    assert.deepEqual(r.codes, [550, 550])
    assert.match(r.texts[0], /Mail for that recipient is not accepted here\./)
    assert.match(r.texts[1], /Mail for that recipient is not accepted here\./)
  })

  it('per recipient: a listed domain does not open relaying to the next one', async () => {
    const r = await send(OTHER_CLIENT, ['a@accept.example', 'victim@elsewhere.example', 'b@continue.example'])
    assert.deepEqual(r.codes, [250, 550, 250])
    assert.match(r.texts[1], /You are not allowed to relay/)
    assert.equal(r.data, 250)
  })

  it('an edit of relay_acl_allow takes effect without a restart', { timeout: 25000 }, async () => {
    assert.deepEqual((await send(LATE_CLIENT, ['a@anywhere.example'])).codes, [550])
    fs.appendFileSync(haraka.file('relay_acl_allow'), `${LATE_CLIENT}\n`)
    const deadline = Date.now() + 15000
    for (;;) {
      const { codes } = await send(LATE_CLIENT, ['a@anywhere.example'])
      if (codes[0] === 250) break
      assert.ok(Date.now() < deadline, `relay_acl_allow edit not picked up in 15 s:\n${haraka.tail(3000)}`)
      await sleep(500)
    }
    // the other client is still refused
    assert.deepEqual((await send(OTHER_CLIENT, ['a@anywhere.example'])).codes, [550])
  })
})
