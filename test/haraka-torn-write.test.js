'use strict'
// A file written in place, slowly (small pieces with pauses), is never put
// in force half written.  Three real Harakas (node_modules/Haraka), one per
// config file, each with a writer that truncates the file and writes the
// new text piece by piece, with one pause longer than Haraka's 5 s reload
// wait at the point where the cut text reads WIDER than both the old and
// the new file:
//   - relay_acl_allow `127.0.0.0/24` cut as `127.0.0.0/2`;
//   - relay.ini read empty, when it says acl=false (empty: acl=true);
//   - relay_dest_domains.ini cut after an accept line that a later line of
//     the same key narrows to deny.
// Meanwhile clients ask, from the addresses and for the domains that the
// cut text would let relay; every answer must be one the old or the new
// file gives.  At the end the new file is in force.
//
//   node --test test/haraka-torn-write.test.js

const assert = require('node:assert/strict')
const fs = require('node:fs')
const { after, before, describe, it } = require('node:test')

const { Haraka, freePort, sleep, transaction } = require('./lib/haraka')

const RELOAD_WAIT_MS = 5000 // haraka-config's wait after the last change event
const LONG_PAUSE_MS = RELOAD_WAIT_MS + 2500

const CASES = [
  {
    file: 'relay_acl_allow',
    about: 'an ACL line cut from /24 to /2',
    files: { 'relay.ini': '[relay]\nacl=true\ndest_domains=true\n', relay_acl_allow: '127.0.0.2/32\n', 'relay_dest_domains.ini': '[domains]\n' },
    // the new text, and where the writer pauses for long
    pieces: ['127.', '0.0.', '0/2', '4\n'],
    pauseAfter: 2,
    // [client, recipient, the answer the old and the new file both give]
    probes: [['127.9.9.9', 'victim@evil.example', 550], ['127.1.0.1', 'victim@evil.example', 550]],
    // once the new file is in force
    settled: ['127.0.0.7', 'x@evil.example', 250],
  },
  {
    file: 'relay.ini',
    about: 'relay.ini read empty while it says acl=false',
    files: { 'relay.ini': '[relay]\nacl=false\ndest_domains=true\n', relay_acl_allow: '127.0.0.2/32\n', 'relay_dest_domains.ini': '[domains]\nok.example = {"action":"accept"}\n' },
    pieces: ['', '[relay]\n', 'acl=false\n', 'dest_domains=false\n'],
    pauseAfter: 0,
    probes: [['127.0.0.2', 'victim@evil.example', 550]],
    settled: ['127.0.0.3', 'x@ok.example', 550], // dest_domains=false now
  },
  {
    file: 'relay_dest_domains.ini',
    about: 'an accept line that a later line of the same key narrows to deny',
    files: { 'relay.ini': '[relay]\nacl=true\ndest_domains=true\n', relay_acl_allow: '', 'relay_dest_domains.ini': '[domains]\nok.example = {"action":"accept"}\n' },
    pieces: [
      '[domains]\nok.example = {"action":"accept"}\n',
      'evil.example = {"action":"accept"}',
      '\nevil.example = {"action":"deny"}\nnew.example = {"action":"accept"}\n',
    ],
    pauseAfter: 1,
    probes: [['127.0.0.3', 'victim@evil.example', 550]],
    settled: ['127.0.0.3', 'x@new.example', 250],
  },
]

describe('a file written slowly in place is never read half written', { timeout: 120000, concurrency: true }, () => {
  before(async () => {
    await Promise.all(
      CASES.map(async (c) => {
        c.port = await freePort()
        c.haraka = new Haraka({ name: 'torn', listen: [`127.0.0.1:${c.port}`], files: c.files })
        await c.haraka.start()
      }),
    )
  })

  after(async () => {
    await Promise.all(CASES.map((c) => c.haraka?.stop()))
  })

  async function writeSlowly(c) {
    const fd = fs.openSync(c.haraka.file(c.file), 'w') // O_TRUNC: the file is empty now
    try {
      for (const [i, piece] of c.pieces.entries()) {
        if (piece) fs.writeSync(fd, piece)
        await sleep(i === c.pauseAfter ? LONG_PAUSE_MS : 30)
      }
    } finally {
      fs.closeSync(fd)
    }
  }

  async function ask(c, [client, rcpt]) {
    const r = await transaction(c.port, client, [rcpt])
    return r.codes[0]
  }

  for (const c of CASES) {
    it(`${c.file}: ${c.about}`, async () => {
      const answers = []
      let writing = true
      const writer = writeSlowly(c).finally(() => {
        writing = false
      })
      while (writing) {
        for (const p of c.probes) answers.push([...p.slice(0, 2), await ask(c, p), p[2]])
        await sleep(150)
      }
      await writer
      // Haraka reads the cut text during the long pause (its reload wait has
      // passed by then); the plugin said it kept the text in force
      assert.match(c.haraka.output, new RegExp(`${c.file.replace(/\./g, '\\.')} looks cut short`), c.haraka.tail(3000))
      const wider = answers.filter(([, , got, want]) => got !== want)
      assert.deepEqual(wider, [], `answers the old and the new ${c.file} do not give`)
      assert.ok(answers.length >= 10, `only ${answers.length} answers during the write`)
      // the new file comes into force once it has stood still
      const deadline = Date.now() + 30000
      while ((await ask(c, c.settled)) !== c.settled[2]) {
        assert.ok(Date.now() < deadline, `the new ${c.file} was not put in force:\n${c.haraka.tail(3000)}`)
        await sleep(300)
      }
      for (const p of c.probes) assert.equal(await ask(c, p), p[2], `${p[0]} -> ${p[1]} with the new ${c.file}`)
    })
  }
})
