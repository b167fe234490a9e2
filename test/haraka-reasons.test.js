'use strict'
// The reason for every recipient in Haraka's log (issue 14, part 3), in a
// real Haraka (node_modules/Haraka): one INFO line per recipient that
// relay-wasm decides or leaves to the rest of Haraka, with the client, the
// recipient, the answer and why, in relay-check's words and with file and
// line; never a password; and no such line (nor the work to build it) when
// the log level hides INFO.
//
//   node --test test/haraka-reasons.test.js

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, freePort, transaction } = require('./lib/haraka')

const FILES = {
  'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=true\nall=false\n',
  relay_acl_allow: '# the office\n127.0.0.10/32\n',
  'relay_dest_domains.ini': [
    '[domains]',
    'accept.example = { "action": "accept", "nexthop": "smtp://user:s3cret-pw@127.0.0.1:2599" }',
    'continue.example = { "action": "continue" }',
    'deny.example = { "action": "deny" }',
    '',
  ].join('\n'),
}

// the reason lines of the plugin in Haraka's output since `from`
function reasons(haraka, from) {
  return haraka.output
    .slice(from)
    .split('\n')
    .filter((l) => /\[INFO\].*\[relay-wasm\].* -> </.test(l))
    .map((l) => l.replace(/^.*\[relay-wasm\] /, ''))
}

describe('the reason for each recipient in the log of a real Haraka', { timeout: 120000 }, () => {
  let info
  let quiet
  let infoPort
  let quietPort

  before(async () => {
    infoPort = await freePort()
    quietPort = await freePort()
    info = new Haraka({ name: 'reasons-info', listen: [`127.0.0.1:${infoPort}`], files: FILES, logLevel: 'info' })
    quiet = new Haraka({ name: 'reasons-notice', listen: [`127.0.0.1:${quietPort}`], files: FILES, logLevel: 'notice' })
    await Promise.all([info.start(), quiet.start()])
  })

  after(async () => {
    await Promise.all([info, quiet].map((h) => h?.stop()))
  })

  it('one line per recipient: client, recipient, answer, and why with file and line', async () => {
    const from = info.output.length
    const stranger = await transaction(infoPort, '127.0.0.20', ['a@accept.example', 'b@far.test', 'c@deny.example', 'd@continue.example'])
    assert.deepEqual(stranger.codes, [250, 550, 550, 250])
    const office = await transaction(infoPort, '127.0.0.10', ['e@far.test'])
    assert.deepEqual(office.codes, [250])
    // the log is written by another process: wait for the last line
    const deadline = Date.now() + 10000
    while (reasons(info, from).length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(reasons(info, from), [
      '127.0.0.20 -> <a@accept.example>: 250: relay_dest_domains.ini line 2 says accept for accept.example: accepted and relayed (this recipient only)',
      '127.0.0.20 -> <b@far.test>: 550 "You are not allowed to relay": far.test is not listed in relay_dest_domains.ini',
      '127.0.0.20 -> <c@deny.example>: 550 "You are not allowed to relay": relay_dest_domains.ini line 4 says deny for deny.example',
      '127.0.0.20 -> <d@continue.example>: 250 unless a later rcpt plugin refuses it: relay_dest_domains.ini line 3 says continue for continue.example: relaying for this recipient, so it is accepted unless a later rcpt plugin refuses it',
      '127.0.0.10 -> <e@far.test>: 250 unless a later rcpt plugin refuses it: the client relays (relay_acl_allow line 2), so every recipient is accepted; relay_dest_domains.ini is not consulted',
    ])
    assert.ok(!info.output.includes('s3cret-pw'), 'no password of a nexthop URL in the log')
  })

  it('with INFO hidden, no reason line is written', async () => {
    const from = quiet.output.length
    const r = await transaction(quietPort, '127.0.0.20', ['a@accept.example', 'b@far.test'])
    assert.deepEqual(r.codes, [250, 550])
    // a line that would follow them: the plugin logs a reload at NOTICE
    await new Promise((r) => setTimeout(r, 500))
    assert.deepEqual(reasons(quiet, from), [])
    assert.ok(!/ -> <b@far\.test>/.test(quiet.output), quiet.tail(2000))
  })
})
