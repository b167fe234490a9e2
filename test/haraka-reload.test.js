'use strict'
// Reload under load: a real Haraka with relay-wasm answers many concurrent
// SMTP sessions from many 127.0.x.y addresses while relay_acl_allow and
// relay_dest_domains.ini are rewritten over and over, with valid and invalid
// content, by atomic renames and by plain in-place writes. Checked:
//
//  - never wider: no answer accepts what neither the config before nor the
//    one after a write allows (the two configs are built so that every
//    client and domain tells which config allowed it);
//  - never a mix: within one session, the recipients are decided by one
//    relay_dest_domains.ini or the other, unless a reload of that file
//    happened during the session;
//  - an invalid file never opens anything (its broken lines target a client
//    range and domains that no valid config allows), and after an invalid
//    write the valid lines in it still work;
//  - while only atomic writes happen, nothing is narrowed either: the lines
//    common to both configs are honoured in every answer;
//  - Haraka keeps running, and its memory (VmRSS) after the run is within
//    64 MiB of before. Both figures, and the numbers of sessions, writes and
//    reloads, are printed.
//
// The plugin looks at a file 1 s after the last change event for it (a new
// event restarts the wait) and puts it in force once it has not been
// modified for 2 s, so a file can be reloaded at most every 2 s or so.  The
// writers write a burst, then wait about 5 s and write again, some writes
// close to the moment a look happens, so that some reads race a write; the
// two files are on staggered cycles.
//
// In-place writes (O_TRUNC, then write) can be read empty or, in principle,
// cut short. An empty or shorter file can only narrow what is allowed, IF no
// line of the file has a prefix that is a wider line. So every in-place
// content is made of bare host addresses (a prefix of 127.0.1.130 is
// 127.0.1.13 or 127.0.1.1, both in config A, or not an address) and of JSON
// entries (a cut entry is not JSON: refused); invalid content, whose broken
// lines could have wider prefixes (127.0.2.1/33 -> 127.0.2.1/3), is only
// ever written atomically.
//
//   node --test test/haraka-reload.test.js
//   RELAY_WASM_SOAK_SECONDS=600 node --test test/haraka-reload.test.js   (npm run test:soak)

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, Smtp, freePort, sleep } = require('./lib/haraka')

const SECONDS = Number(process.env.RELAY_WASM_SOAK_SECONDS) || 60
const CONCURRENCY = Number(process.env.RELAY_WASM_SOAK_CONCURRENCY) || 16
const RSS_MARGIN_MIB = 64
const RELOAD_QUIET_MS = 5000 // haraka-config's wait after the last change

const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`)

// Clients. CORE are listed in both configs; A_ONLY in A, B_ONLY in B (the
// files list more hosts than the sessions use: 127.0.1.1-40, 127.0.1.129-168);
// NEVER in neither, nor in any prefix of a listed line, and the broken lines
// of the invalid contents all aim at 127.0.2.x.
const CORE = ['127.0.3.1', '127.0.3.2']
const A_LISTED = range('127.0.1.', 1, 40)
const B_LISTED = range('127.0.1.', 129, 168)
const A_ONLY = range('127.0.1.', 1, 8)
const B_ONLY = range('127.0.1.', 129, 136)
const NEVER = [...range('127.0.2.', 1, 8), ...range('127.0.1.', 200, 203)]
const CLIENTS = [...CORE, ...A_ONLY, ...B_ONLY, ...NEVER]
const ALLOWED_SOMETIME = new Set([...CORE, ...A_LISTED, ...B_LISTED])

// Domains: core.example in both, a.example in A, b.example in B, c.example
// only in broken lines, z.example nowhere.
const DOMAINS = ['core.example', 'a.example', 'b.example', 'c.example', 'z.example']

const ACL = {
  A: ['# config A', ...CORE, ...A_LISTED, ''].join('\n'),
  B: ['# config B', ...CORE, ...B_LISTED, ''].join('\n'),
}
// Broken lines for relay_acl_allow: each is refused by the plugin and each
// would let 127.0.2.x relay if it were read leniently.
const ACL_BROKEN = [
  '127.0.2.0/24 and some text',
  '127.0.2.0/33',
  '127.0.2.1/24/8',
  '0127.0.2.1',
  '127.000.002.001',
  '0x7f.0.2.1',
  '2130706945',
  '127.2.1',
  '127.0.2.1%lo',
  '::ffff:127.0.2.1/200',
  '127.0.2.0 /24',
  '127.0.2.0/ 24',
  '127.0.2.0/024',
  '127.0.2.0/-1',
  '[127.0.2.1]',
  '127.0.2.1:25',
  '127.0.2.*',
  '127.0.2.0-127.0.2.255',
  '127.0.2.1,127.0.2.2',
  '127.0.2.1\u0000',
  '\u0001127.0.2.1',
  '１２７.0.2.1',
  'localhost',
]

const entry = (d, action) => `${d} = { "action": "${action}" }`
const DEST = {
  A: ['; config A', '[domains]', entry('core.example', 'accept'), entry('a.example', 'accept'), ''].join('\n'),
  B: ['; config B', '[domains]', entry('core.example', 'accept'), entry('b.example', 'accept'), ''].join('\n'),
}
// Broken lines for relay_dest_domains.ini, after the valid ones (a broken
// section header or a continuation would otherwise change how the valid
// lines are read, which would be the file's meaning, not a plugin fault).
const DEST_BROKEN = [
  'c.example = { "action": "accept"',
  'c.example = accept',
  'c.example = ["accept"]',
  'c.example = { "action": ["accept"] }',
  'c.example = { "action": "accept " }',
  'c.example = { "action": "Accept" }',
  'c.example = { "action": "accept" } trailing',
  'c.example = { "action": "accept", }',
  "c.example = { 'action': 'accept' }",
  'c.example = { action: "accept" }',
  'c.example == { "action": "accept" }',
  'c.example : { "action": "accept" }',
  'c.example = { "action": "accept" }\u0000',
  'c.example = { "action": "accept\\u0000" }',
  'c.example = { "action\\u0000": "accept" }',
  'c.example\u0007 = { "action": "accept" }',
  'c.example',
  'c.example =',
  '[domains',
  '\u00ff\u00fe garbage \u0000 bytes',
  'z.example = { "action": "accept" ', // unterminated
  '\\', // the last line ends in \: a continuation with nothing to join
]

// A JSON string with an escaped NUL (\u0000, written as those six
// characters): JSON.parse, and so haraka-plugin-relay, keeps the whole
// string, which is no action and no key it knows (recipients refused). Used
// in the last test.
const NUL_LINES = [
  'nul0.example = { "action": "accept\\u0000 (not an action)" }',
  'nul1.example = { "action\\u0000junk": "accept" }',
]

function invalidText(base, broken) {
  return `${base}${broken.join('\n')}\n`
}

describe('reload under load: relay-wasm in a real Haraka', { timeout: (SECONDS + 120) * 1000 }, () => {
  let haraka
  let port
  const reloads = { relay_acl_allow: [], 'relay_dest_domains.ini': [] } // times (ms) of the plugin's "… in force"
  let errorDiagnostics = { relay_acl_allow: 0, 'relay_dest_domains.ini': 0 }

  before(async () => {
    port = await freePort()
    haraka = new Haraka({
      name: 'reload',
      listen: [`127.0.0.1:${port}`],
      logLevel: 'notice', // keeps the output small: errors (diagnostics), reloads ("… in force")
      files: {
        'relay.ini': '[relay]\nacl=true\ndest_domains=true\nforce_routing=false\nall=false\n',
        relay_acl_allow: ACL.A,
        'relay_dest_domains.ini': DEST.A,
      },
    })
    haraka.onLine((line) => {
      const m = /\b(relay_acl_allow|relay_dest_domains\.ini) in force \(/.exec(line)
      if (m) reloads[m[1]].push(Date.now())
      const e = /(relay_acl_allow|relay_dest_domains\.ini):\d+(?::\d+)?: error: /.exec(line)
      if (e) errorDiagnostics[e[1]]++
    })
    await haraka.start()
  })

  after(async () => {
    await haraka?.stop()
  })

  // One session: EHLO, MAIL, one RCPT per domain, QUIT.
  async function session(client) {
    const started = Date.now()
    const c = await Smtp.open({ port, localAddress: client, timeout: 15000 })
    try {
      const e = await c.ehlo()
      if (e.code !== 250) throw new Error(`EHLO ${e.code}`)
      const m = await c.send('MAIL FROM:<load@client.example>')
      if (m.code !== 250) throw new Error(`MAIL ${m.code}`)
      const codes = {}
      for (const d of DOMAINS) codes[d] = (await c.send(`RCPT TO:<user@${d}>`)).code
      return { client, codes, started, ended: Date.now() }
    } finally {
      await c.quit()
    }
  }

  it(`${CONCURRENCY} concurrent clients for ${SECONDS} s while both files are rewritten: never wider, never mixed`, async () => {
    // --- warm up, then the memory figure before
    let stop = Date.now() + 3000
    let warm = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        for (let i = w; Date.now() < stop; i += CONCURRENCY) {
          await session(CLIENTS[i % CLIENTS.length])
          warm++
        }
      }),
    )
    await sleep(2000)
    const rssBefore = haraka.rssKiB()

    // --- the run
    const t0 = Date.now()
    const tEnd = t0 + SECONDS * 1000
    const tInPlace = t0 + (SECONDS * 1000) / 2 // first half: atomic writes only
    let firstInPlace = Infinity
    const writes = { relay_acl_allow: { atomic: 0, inPlace: 0, invalid: 0 }, 'relay_dest_domains.ini': { atomic: 0, inPlace: 0, invalid: 0 } }

    async function writer(file, texts, broken, offsetMs) {
      await sleep(offsetMs)
      // the sequence of final contents, rotating through all kinds
      const plan = ['B', 'A', 'invalid-B', 'A', 'B', 'invalid-A']
      for (let cycle = 0; Date.now() < tEnd - RELOAD_QUIET_MS; cycle++) {
        const inPlaceOK = Date.now() >= tInPlace
        // a burst: two or three writes 50-150 ms apart; only the last is
        // meant to be read (the reload waits for quiet), but the first of
        // each burst lands close to the moment the previous one is read.
        const burst = [plan[(cycle + 3) % plan.length], plan[(cycle + 1) % plan.length], plan[cycle % plan.length]].slice(cycle % 2)
        let last = 0
        for (const [k, kind] of burst.entries()) {
          if (k > 0) await sleep(50 + Math.random() * 100)
          const invalid = kind.startsWith('invalid')
          const text = invalid ? invalidText(texts[kind.slice(-1)], broken) : texts[kind]
          if (!invalid && inPlaceOK && Math.random() < 0.5) {
            if (firstInPlace === Infinity) firstInPlace = Date.now()
            haraka.write(file, text)
            writes[file].inPlace++
          } else {
            haraka.writeAtomic(file, text)
            writes[file].atomic++
          }
          if (invalid) writes[file].invalid++
          last = Date.now()
        }
        // the next burst starts about when this one's last write is read:
        // 5 s after it, -5..+40 ms (a write before the reload postpones it)
        await sleep(last + RELOAD_QUIET_MS - 5 + Math.random() * 45 - Date.now())
      }
    }

    const results = { sessions: 0, failures: 0, rcpts: 0 }
    const seen = { aOnlyRelayed: 0, bOnlyRelayed: 0, aDomain: 0, bDomain: 0, switchedMidSession: 0, narrowedAfterInPlace: 0 }
    const violations = []
    const narrowedSamples = []
    const violate = (what, r) => {
      if (violations.length < 50) violations.push(`${what}: ${JSON.stringify(r)}`)
    }
    const reloadedDuring = (file, r) => reloads[file].some((t) => t >= r.started - 250 && t <= r.ended + 250)

    function check(r) {
      const { client, codes } = r
      const ok = (d) => codes[d] === 250
      const strict = r.ended < firstInPlace // only atomic writes so far
      for (const d of DOMAINS) {
        if (codes[d] !== 250 && codes[d] !== 550) violate(`unexpected code for ${d}`, r)
      }
      // never wider
      if (!ALLOWED_SOMETIME.has(client) && (ok('c.example') || ok('z.example'))) violate('a client no config lists relayed', r)
      const relaying = DOMAINS.every(ok)
      if (relaying && !ALLOWED_SOMETIME.has(client)) violate('relaying for a client no config lists', r)
      if (relaying && A_ONLY.includes(client)) seen.aOnlyRelayed++
      if (relaying && B_ONLY.includes(client)) seen.bOnlyRelayed++
      if (relaying) return
      // not relaying: the domains decide. core.example is in both configs.
      if (ok('a.example')) seen.aDomain++
      if (ok('b.example')) seen.bDomain++
      if (ok('c.example') || ok('z.example')) violate('a domain no config lists was accepted', r)
      // never a mix: one session sees A's domains or B's (exactly one of
      // a.example, b.example) and core.example; unless
      // relay_dest_domains.ini was reloaded while it ran (each answer then
      // follows the file before or after: both, or neither, can happen)
      const one = ok('a.example') !== ok('b.example') && ok('core.example')
      if (reloadedDuring('relay_dest_domains.ini', r)) {
        if (!one) seen.switchedMidSession++
      } else if (!one) {
        if (ok('a.example') && ok('b.example')) violate('a.example and b.example both accepted (a mix of A and B)', r)
        else if (strict) violate('narrower than both configs with atomic writes only', r)
        else {
          // after in-place writes: a read of a cut or empty file
          seen.narrowedAfterInPlace++
          if (narrowedSamples.length < 3) narrowedSamples.push({ ...r, msAfterFirstInPlaceWrite: r.started - firstInPlace })
        }
      }
      // a core client always relays while writes are atomic
      if (strict && CORE.includes(client) && !reloadedDuring('relay_acl_allow', r)) violate('a client listed in both configs did not relay', r)
    }

    const loaders = Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w * 7; Date.now() < tEnd; i++) {
        try {
          const r = await session(CLIENTS[i % CLIENTS.length])
          results.sessions++
          results.rcpts += DOMAINS.length
          check(r)
        } catch (err) {
          results.failures++
          if (results.failures <= 5) console.log(`session failed: ${err.message}`)
          await sleep(50)
        }
      }
    })
    const writers = [
      writer('relay_acl_allow', ACL, ACL_BROKEN, 0),
      writer('relay_dest_domains.ini', DEST, DEST_BROKEN, RELOAD_QUIET_MS / 2),
    ]
    await Promise.all([...loaders, ...writers])

    // --- after the run: settle, memory figure after
    await sleep(3000)
    const rssAfter = haraka.rssKiB()
    const reloadCount = reloads.relay_acl_allow.length + reloads['relay_dest_domains.ini'].length
    const summary = {
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      warmupSessions: warm,
      sessions: results.sessions,
      rcptAnswers: results.rcpts,
      failedSessions: results.failures,
      sessionsPerSecond: Math.round(results.sessions / SECONDS),
      writes,
      reloads: { relay_acl_allow: reloads.relay_acl_allow.length, 'relay_dest_domains.ini': reloads['relay_dest_domains.ini'].length, total: reloadCount },
      errorDiagnosticsLogged: errorDiagnostics,
      seen,
      narrowedSamples,
      rssBeforeMiB: +(rssBefore / 1024).toFixed(1),
      rssAfterMiB: +(rssAfter / 1024).toFixed(1),
    }
    console.log(`reload under load: ${JSON.stringify(summary, null, 2)}`)
    console.log(
      `reload under load: ${results.sessions} sessions (${results.rcpts} RCPT answers, ${results.failures} failed) in ${SECONDS} s, ` +
        `${reloadCount} reloads, Haraka VmRSS ${summary.rssBeforeMiB} MiB before, ${summary.rssAfterMiB} MiB after`,
    )

    assert.deepEqual(violations, [], `${violations.length} wrong answers`)
    assert.ok(haraka.alive(), `Haraka died:\n${haraka.tail()}`)
    assert.ok(results.sessions > 50 * SECONDS, `too few sessions: ${results.sessions}`)
    assert.ok(results.failures <= results.sessions / 1000, `${results.failures} failed sessions of ${results.sessions}`)
    // the rewrites took effect: both configs were seen, invalid ones were loaded
    assert.ok(reloads.relay_acl_allow.length >= SECONDS / 10, `relay_acl_allow reloaded ${reloads.relay_acl_allow.length} times`)
    assert.ok(reloads['relay_dest_domains.ini'].length >= SECONDS / 10, `relay_dest_domains.ini reloaded ${reloads['relay_dest_domains.ini'].length} times`)
    assert.ok(seen.aOnlyRelayed > 0 && seen.bOnlyRelayed > 0, 'both ACLs were in force at some time')
    assert.ok(seen.aDomain > 0 && seen.bDomain > 0, 'both domain lists were in force at some time')
    assert.ok(errorDiagnostics.relay_acl_allow > 0 && errorDiagnostics['relay_dest_domains.ini'] > 0, 'invalid contents were loaded')
    assert.ok(rssAfter - rssBefore < RSS_MARGIN_MIB * 1024, `RSS grew from ${rssBefore} KiB to ${rssAfter} KiB`)
  })

  it('after the run, with an invalid file in force, each broken line opens nothing', async () => {
    // each broken line gets a domain of its own, so each is checked alone
    const broken = DEST_BROKEN.filter((l) => l.startsWith('c.example')).map((l, i) => l.replace('c.example', `c${i}.example`))
    haraka.writeAtomic('relay_acl_allow', invalidText(ACL.B, ACL_BROKEN))
    haraka.writeAtomic('relay_dest_domains.ini', invalidText(DEST.B, [...broken, ...NUL_LINES]))
    const n = reloads['relay_dest_domains.ini'].length
    const deadline = Date.now() + RELOAD_QUIET_MS + 10000
    while (reloads['relay_dest_domains.ini'].length === n || reloads.relay_acl_allow.length === 0) {
      assert.ok(Date.now() < deadline, 'no reload')
      await sleep(200)
    }
    await sleep(300)
    const domains = broken.map((_, i) => `c${i}.example`)
    for (const client of [...NEVER.slice(0, 3), '127.0.2.200']) {
      const c = await Smtp.open({ port, localAddress: client })
      try {
        await c.ehlo()
        await c.send('MAIL FROM:<s@client.example>')
        for (const d of domains) {
          const r = await c.send(`RCPT TO:<user@${d}>`)
          assert.equal(r.code, 550, `${client} -> ${d} (${broken[domains.indexOf(d)]}): ${r.text}`)
        }
        // the valid lines of the same file still work
        assert.equal((await c.send('RCPT TO:<user@b.example>')).code, 250)
        assert.equal((await c.send('RCPT TO:<user@core.example>')).code, 250)
      } finally {
        await c.quit()
      }
    }
    // and the valid lines of the invalid ACL file
    const c = await Smtp.open({ port, localAddress: B_ONLY[0] })
    try {
      await c.ehlo()
      await c.send('MAIL FROM:<s@client.example>')
      assert.equal((await c.send('RCPT TO:<user@z.example>')).code, 250)
    } finally {
      await c.quit()
    }
    assert.ok(haraka.alive())
  })

  // A JSON string with an escaped NUL: the C core takes strings from cJSON
  // as C strings, so without a check of its own "accept\u0000 (not an
  // action)" would be read as "accept" and the key "action\u0000junk" as
  // "action" (accepted, no diagnostic), where haraka-plugin-relay refuses
  // both. The plugin reports such a value (dest-nul-char) and refuses it.
  it('an escaped NUL in a JSON string does not cut it short ("accept\\u0000…" is no action)', async () => {
    const got = []
    for (const i of NUL_LINES.keys()) {
      const c = await Smtp.open({ port, localAddress: NEVER[0] })
      try {
        await c.ehlo()
        await c.send('MAIL FROM:<s@client.example>')
        got.push((await c.send(`RCPT TO:<user@nul${i}.example>`)).code)
      } finally {
        await c.quit()
      }
    }
    assert.deepEqual(got, NUL_LINES.map(() => 550), NUL_LINES.join('\n'))
  })
})
