'use strict'
// The config files of the never-wider issue, each in a real Haraka
// (node_modules/Haraka) with relay-wasm: lines that relay-wasm 0.1.0 could
// not read (and dropped, so the file became wider), keys that differ only
// in case, JSON that JSON.parse refuses, and JSON nested deep enough to
// overflow the old module's stack into its data.  Every answer here is the
// one Haraka's own reading of the file (haraka-config) with 1.0.2 gives, or
// narrower; relay-wasm 0.1.0 relayed in each.
//
//   node --test test/haraka-never-wider.test.js

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, freePort, sleep, transaction } = require('./lib/haraka')

const LISTED = '127.0.0.2' // in relay_acl_allow where a case lists it
const STRANGER = '127.0.0.3' // never listed

const deep = (n) => `{"x":${'['.repeat(n)}${'1'.repeat(40)}${']'.repeat(n)}}`

const CASES = [
  {
    name: 'a section header ending in a form feed still starts that section',
    files: { 'relay.ini': '[relay]\nacl=true\n[disabled]\f\nall=true\n' },
    asks: [[STRANGER, 'victim@evil.example', 550]],
  },
  {
    name: 'a section header ending in NBSP still starts that section',
    files: { 'relay.ini': '[relay]\nacl=true\n[disabled]\u00a0\nall=true\n' },
    asks: [[STRANGER, 'victim@evil.example', 550]],
  },
  {
    name: 'acl\\u00a0= false sets acl (NBSP from a copy and paste)',
    files: { 'relay.ini': '[relay]\nacl\u00a0= false\n', relay_acl_allow: `${LISTED}\n` },
    asks: [[LISTED, 'victim@evil.example', 550]],
  },
  {
    name: 'acl=false\\f is false',
    files: { 'relay.ini': '[relay]\nacl=false\f\n', relay_acl_allow: `${LISTED}\n` },
    asks: [[LISTED, 'victim@evil.example', 550]],
  },
  {
    name: '[relay]\\f is the section relay',
    files: { 'relay.ini': '[relay]\f\nacl=false\n', relay_acl_allow: `${LISTED}\n` },
    asks: [[LISTED, 'victim@evil.example', 550]],
  },
  {
    name: 'relay_dest_domains.ini: a header with VT, keys differing in case, JSON that JSON.parse refuses',
    files: {
      'relay.ini': '[relay]\nacl=true\ndest_domains=true\n',
      'relay_dest_domains.ini': [
        '[domains]',
        'good.example = {"action":"accept"}',
        'example.org = {"action":"deny"}',
        'EXAMPLE.ORG = {"action":"accept"}',
        'tab.example = {"action":"accept","n\tote":1}',
        'zero.example = {"action":"accept","n":01}',
        '[old]\v',
        'evil.example = {"action":"accept"}',
        '',
      ].join('\n'),
    },
    asks: [
      [STRANGER, 'x@good.example', 250],
      [STRANGER, 'victim@evil.example', 550],
      [STRANGER, 'u@example.org', 550],
      [STRANGER, 'u@tab.example', 550],
      [STRANGER, 'u@zero.example', 550],
    ],
    logs: [/relay_dest_domains\.ini:4(?::\d+)?: error: .*\[dest-conflicting-key\]/, /relay_dest_domains\.ini:5(?::\d+)?: error: .*\[dest-bad-json\]/],
  },
  {
    name: 'JSON nested 855 deep is refused on its line and relay.ini still reads acl=false after a reload',
    files: {
      'relay.ini': '[relay]\nacl=false\ndest_domains=true\n',
      relay_acl_allow: '127.0.0.0/8\n',
      'relay_dest_domains.ini': `[domains]\ngood.example = {"action":"accept"}\nnote.example = ${deep(855)}\n`,
    },
    reload: 'relay.ini',
    asks: [
      ['127.0.0.1', 'victim@evil.example', 550],
      [STRANGER, 'x@good.example', 250],
      [STRANGER, 'x@note.example', 550],
    ],
    logs: [/relay_dest_domains\.ini:3(?::\d+)?: error: .*\[dest-too-deep\]/],
  },
]

describe('never wider than Haraka reads the files: a real Haraka', { timeout: 90000, concurrency: true }, () => {
  before(async () => {
    await Promise.all(
      CASES.map(async (c) => {
        c.port = await freePort()
        c.haraka = new Haraka({ name: 'never-wider', listen: [`127.0.0.1:${c.port}`], files: c.files })
        await c.haraka.start()
      }),
    )
  })

  after(async () => {
    await Promise.all(CASES.map((c) => c.haraka?.stop()))
  })

  for (const c of CASES) {
    it(c.name, async () => {
      if (c.reload) {
        // the same text again: Haraka reloads it 5 s later
        const mark = c.haraka.output.length
        c.haraka.write(c.reload, c.files[c.reload])
        const deadline = Date.now() + 20000
        while (!c.haraka.output.slice(mark).includes(`${c.reload} in force`)) {
          assert.ok(Date.now() < deadline, `${c.reload} not reloaded:\n${c.haraka.tail(3000)}`)
          await sleep(100)
        }
      }
      for (const [client, rcpt, code] of c.asks) {
        const r = await transaction(c.port, client, [rcpt])
        assert.equal(r.codes[0], code, `${client} -> ${rcpt}: ${r.texts[0]}`)
      }
      for (const re of c.logs || []) assert.match(c.haraka.output, re)
      assert.equal(c.haraka.exited, null)
    })
  }
})
