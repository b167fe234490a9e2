// Differential tests: relay.wasm against what Haraka users run today.
//  - ACL matching against haraka-plugin-relay 1.0.2 (its own load_acls and
//    is_acl_allowed) and against ipaddr.js, over random lists and addresses;
//  - relay.ini and relay_dest_domains.ini against haraka-config's own INI
//    reader, over random files (sections, comments, continuations, line ends);
//  - dest_domains answers against haraka-plugin-relay's rcpt hook.
// The answers must be identical except for the deliberate differences,
// each of which is asserted here as a difference.
'use strict'

const assert = require('node:assert/strict')
const { describe, it } = require('node:test')

const ipaddr = require('ipaddr.js')
const iniReader = require('haraka-config/lib/readers/ini.js')
const constants = require('haraka-constants')

const { createEngine } = require('../js/engine')
const { rng } = require('./support/rng')
const { RANK } = require('./support/action-rank')
const { domainsOf, occurrencesOf } = require('./support/reference')

iniReader.logger = () => {}
const RELAY_BOOLEANS = ['+relay.acl', '-relay.force_routing', '-relay.all', '-relay.dest_domains']


const SEED = Number(process.env.RELAY_DIFF_SEED || 20261125)
const counts = { acl: 0, ipaddr: 0, ini: 0, domains: 0, deliberate: 0 }

function v4(r) {
  return [r.int(256), r.int(256), r.int(256), r.int(256)].join('.')
}
function v6(r) {
  const groups = []
  for (let i = 0; i < 8; i++) groups.push(r.int(65536).toString(16))
  // a shared prefix now and then, so entries and clients meet
  if (r() < 0.5) groups[0] = '2001'
  if (r() < 0.5) groups[1] = 'db8'
  return ipaddr.parse(groups.join(':')).toString() // compressed form
}
// An address inside an entry, so hits are as common as misses.
function inside(r, entry) {
  const [net, len] = ipaddr.parseCIDR(entry)
  const bytes = net.toByteArray()
  const prefix = len
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (r() < 0.5) bytes[bit >> 3] ^= 0x80 >> (bit & 7)
  }
  return ipaddr.fromByteArray(bytes).toString()
}

// haraka-plugin-relay 1.0.2, loaded as Haraka would, with a list handed to
// its own load_acls.
function relay102(lines) {
  const plugin = Object.create(require('haraka-plugin-relay'))
  plugin.config = { get: () => lines.slice() }
  plugin.logerror = () => {}
  plugin.load_acls()
  return (ip) => plugin.is_acl_allowed({ remote: { ip }, logdebug() {} })
}

describe('differential: relay_acl_allow', () => {
  it('agrees with haraka-plugin-relay 1.0.2 on random lists and clients', () => {
    const r = rng(SEED)
    const engine = createEngine()
    for (let list = 0; list < 300; list++) {
      const entries = []
      const n = 1 + r.int(40)
      for (let i = 0; i < n; i++) {
        if (r() < 0.6) entries.push(`${v4(r)}/${1 + r.int(32)}`)
        else entries.push(`${v6(r)}/${1 + r.int(128)}`)
      }
      // host entries written in full (1.0.2 appends /32: right for IPv4)
      entries.push(v4(r))
      engine.load('relay_acl_allow', entries.join('\n'))
      const theirs = relay102(entries)
      for (let k = 0; k < 100; k++) {
        const entry = r.pick(entries)
        const ip = r() < 0.5 ? inside(r, entry.includes('/') ? entry : `${entry}/32`) : r() < 0.6 ? v4(r) : v6(r)
        assert.equal(!!engine.aclMatch(ip), theirs(ip), `list #${list} ${JSON.stringify(entries)} client ${ip}`)
        counts.acl++
      }
    }
  })

  it('agrees with ipaddr.js on random (address, entry) pairs, mapped clients included', () => {
    const r = rng(SEED + 1)
    const engine = createEngine()
    for (let i = 0; i < 20000; i++) {
      const entry = r() < 0.6 ? `${v4(r)}/${r.int(33)}` : `${v6(r)}/${r.int(129)}`
      const [net, len] = ipaddr.parseCIDR(entry)
      engine.load('relay_acl_allow', entry)
      for (let k = 0; k < 5; k++) {
        let ip = k < 2 ? inside(r, entry) : r() < 0.5 ? v4(r) : v6(r)
        if (net.kind() === 'ipv4' && r() < 0.3) ip = `::ffff:${ip.includes(':') ? v4(r) : ip}`
        const client = ipaddr.process(ip) // ::ffff:a.b.c.d is the IPv4 host
        const expected = client.kind() === net.kind() && client.match(net, len)
        assert.equal(!!engine.aclMatch(ip), expected, `entry ${entry} client ${ip}`)
        counts.ipaddr++
      }
    }
  })

  // Each deliberate difference from 1.0.2 (README "Deliberate
  // differences" 2-5), asserted as a difference: `ours` is what README says
  // relay-wasm answers, and 1.0.2's own code must answer otherwise.
  const deliberate = [
    // A bare IPv6 address is that host (/128); 1.0.2 appends /32 and opens 2^96 addresses.
    { list: ['2001:db8::1'], ip: '2001:db8:ffff::7', ours: false, theirs: true },
    // /33 on IPv4 is an error and opens nothing; 1.0.2 accepts the line.
    { list: ['192.0.2.0/33'], ip: '192.0.2.0', ours: false, theirs: true },
    // Text after the prefix is an error; 1.0.2 reads '24 junk' as 24.
    { list: ['192.0.2.0/24 junk'], ip: '192.0.2.9', ours: false, theirs: true },
    // An IPv4-mapped client matches IPv4 entries (the issue asks for it); 1.0.2 never matches.
    { list: ['192.0.2.0/24'], ip: '::ffff:192.0.2.9', ours: true, theirs: false },
    // /0 is what it says (with a warning); 1.0.2 turns parseInt('0') || 32 into /32.
    { list: ['0.0.0.0/0'], ip: '198.51.100.1', ours: true, theirs: false },
  ]
  for (const d of deliberate) {
    it(`deliberate difference: ${d.list[0]} vs client ${d.ip}`, () => {
      const engine = createEngine()
      engine.load('relay_acl_allow', d.list.join('\n'))
      const ours = !!engine.aclMatch(d.ip)
      const theirs = relay102(d.list)(d.ip)
      assert.equal(ours, d.ours, 'relay-wasm, as README says')
      assert.equal(theirs, d.theirs, 'haraka-plugin-relay 1.0.2')
      assert.notEqual(ours, theirs, 'the two answer differently')
      counts.deliberate++
    })
  }
})

// Random INI text in the shapes Haraka admins write.
function randomIni(r, sectionNames, keyFor, valueFor) {
  const ends = ['\n', '\r\n', '\r']
  const eol = r.pick(ends)
  const lines = []
  const blocks = 1 + r.int(4)
  if (r() < 0.3) lines.push(`${keyFor(r)}=${valueFor(r)}`) // before any section: [main]
  for (let b = 0; b < blocks; b++) {
    const name = r.pick(sectionNames)
    lines.push(r() < 0.2 ? `  [ ${name} ]  ` : `[${name}]`)
    const n = r.int(8)
    for (let i = 0; i < n; i++) {
      const roll = r()
      if (roll < 0.1) lines.push(r() < 0.5 ? `# note ${i}` : `  ; note`)
      else if (roll < 0.15) lines.push('')
      else {
        const key = keyFor(r)
        const value = valueFor(r)
        const sep = r.pick(['=', ' = ', '= ', ' =\t'])
        if (roll < 0.25 && value.length > 2) {
          // a continuation, split inside the value, trailing blanks after the backslash
          const cut = 1 + r.int(value.length - 1)
          lines.push(`${key}${sep}${value.slice(0, cut)}\\${r() < 0.5 ? '  ' : ''}`)
          if (r() < 0.2) lines.push('# between continuation lines')
          lines.push(value.slice(cut))
        } else {
          lines.push(`${key}${sep}${value}${r() < 0.2 ? '   ' : ''}`)
        }
      }
    }
  }
  return lines.join(eol) + (r() < 0.5 ? eol : '')
}

describe('differential: INI read as haraka-config reads it', () => {
  it('relay.ini switches equal haraka-config with the booleans declared', () => {
    const r = rng(SEED + 2)
    const engine = createEngine()
    const keys = ['acl', 'force_routing', 'dest_domains', 'all']
    const words = ['true', 'false', 'yes', 'no', 'ok', 'On', 'off', 'ENABLED', 'disabled', '1', '0', 'maybe', 'tru', '']
    for (let i = 0; i < 3000; i++) {
      const text = randomIni(r, ['relay', 'relay', 'main', 'other'], (g) => g.pick(keys), (g) => g.pick(words))
      engine.load('relay.ini', text)
      const cfg = iniReader.parseIni('relay.ini', { booleans: RELAY_BOOLEANS }, text)
      assert.deepEqual(engine.settings(), { ...cfg.relay }, JSON.stringify(text))
      counts.ini++
    }
  })

  it('relay_dest_domains.ini entries equal haraka-config plus JSON.parse; keys in other cases or given twice resolve to the narrowest', () => {
    // what 1.0.2 makes of a value: JSON.parse's action, or a refusal
    const actionOf = (raw) => {
      let v
      try {
        v = JSON.parse(raw)
      } catch {
        return 'invalid'
      }
      return ['accept', 'continue', 'deny'].includes(v.action) ? v.action : v.action === undefined ? 'noaction' : 'invalid'
    }
    const r = rng(SEED + 3)
    const engine = createEngine()
    const domainsPool = ['example.com', 'Example.ORG', 'EXAMPLE.com', 'mail.example.net', 'a-b.example', 'x.test', 'any']
    const actions = ['accept', 'continue', 'deny']
    const valueFor = (g) => {
      const roll = g()
      if (roll < 0.7) return JSON.stringify({ action: g.pick(actions) })
      if (roll < 0.8) return JSON.stringify({ action: g.pick(actions), nexthop: '192.0.2.1:2525' })
      if (roll < 0.9) return `{ "action": "${g.pick(actions)}" }`
      return '{"action":"accept"' // broken JSON
    }
    const linesOf = (code) =>
      engine
        .diagnostics()
        .filter((d) => d.code === code)
        .map((d) => d.line)
    for (let i = 0; i < 3000; i++) {
      const text = randomIni(r, ['domains', 'domains', 'other'], (g) => g.pick(domainsPool), valueFor)
      engine.load('relay_dest_domains.ini', text)
      const theirs = iniReader.parseIni('relay_dest_domains.ini', {}, text).domains || {}
      // every key line of [domains], as haraka-config walks the text: its
      // last value per exact key must be haraka-config's own
      const occurrences = occurrencesOf(text).filter((o) => o.section === 'domains')
      for (const key of Object.keys(theirs)) assert.equal(occurrences.findLast((o) => o.key === key).value, theirs[key], `walk of ${JSON.stringify(text)}`)
      // difference 11: every key that names the domain, in any case, each
      // occurrence; the narrowest meaning holds (test/support/reference.js)
      const ref = domainsOf(text)
      const where = JSON.stringify(text)
      for (const name of new Set(domainsPool.map((d) => d.toLowerCase()))) {
        const ours = engine.rcpt(name)
        const named = occurrences.filter((o) => o.key.toLowerCase() === name)
        assert.deepEqual(ours, ref.rcpt(name), `${name} in ${where}`)
        if (named.length === 0) assert.equal(ours.action, 'unlisted', `${name} in ${where}`)
        else if (named.every((o) => o.key === name) && new Set(named.map((o) => o.value)).size === 1) {
          // one meaning, written in lower case: 1.0.2 reads it the same
          assert.equal(ours.action, actionOf(theirs[name]), `${name} in ${where}`)
          counts.domains++
        } else if (!(name in theirs)) {
          // only in other cases: 1.0.2 looks up the lower-cased host and never
          // matches such a key; relay-wasm does (difference 11)
          assert.notEqual(ours.action, 'unlisted', `${name} in ${where}`)
          counts.case = (counts.case || 0) + 1
        } else {
          // named more than once: never wider than 1.0.2's reading
          assert.ok(RANK[ours.action] <= RANK[actionOf(theirs[name])], `${name}: ${ours.action} is wider than 1.0.2's in ${where}`)
          counts.conflicts = (counts.conflicts || 0) + 1
        }
      }
      // the later line of two meanings of one domain is an error, of the same meaning a warning
      assert.deepEqual(linesOf('dest-conflicting-key'), ref.conflicts.map((c) => c.line).sort((a, b) => a - b), `dest-conflicting-key in ${where}`)
      assert.deepEqual(linesOf('ini-duplicate-key'), ref.duplicates.map((c) => c.line).sort((a, b) => a - b), `ini-duplicate-key in ${where}`)
    }
  })
})

describe('differential: rcpt answers against haraka-plugin-relay 1.0.2', () => {
  function theirHook(domainsText) {
    const plugin = Object.create(require('haraka-plugin-relay'))
    plugin.cfg = { relay: { dest_domains: true } }
    plugin.dest = iniReader.parseIni('relay_dest_domains.ini', {}, domainsText)
    return (host) => {
      let code
      const txn = { results: { add() {} } }
      const conn = { relaying: false, transaction: txn, logdebug() {} }
      try {
        plugin.dest_domains((c) => (code = c), conn, [{ host }])
      } catch (err) {
        return `throws ${err.name}`
      }
      return code
    }
  }
  const CODE = { accept: constants.ok, continue: constants.cont, deny: constants.deny, unlisted: constants.deny, invalid: constants.deny, noaction: constants.deny }
  globalThis.OK = constants.ok
  globalThis.CONT = constants.cont
  globalThis.DENY = constants.deny

  it('gives the same SMTP answer for every listed and unlisted domain', () => {
    const text = [
      '[domains]',
      'accept.example = { "action": "accept" }',
      'continue.example = { "action": "continue" }',
      'deny.example = { "action": "deny" }',
      'typo.example = { "action": "acept" }',
      'route.example = { "nexthop": "192.0.2.1" }',
    ].join('\n')
    const engine = createEngine()
    engine.load('relay_dest_domains.ini', text)
    const theirs = theirHook(text)
    for (const host of ['accept.example', 'continue.example', 'deny.example', 'typo.example', 'route.example', 'other.example', 'accept.example.evil']) {
      assert.equal(CODE[engine.rcpt(host).action], theirs(host), host)
      counts.domains++
    }
  })

  it('deliberate difference: bad JSON is refused at load, where 1.0.2 throws at RCPT time', () => {
    const text = '[domains]\nbad.example = {action: accept}\n'
    const engine = createEngine()
    engine.load('relay_dest_domains.ini', text)
    assert.equal(engine.rcpt('bad.example').action, 'invalid')
    assert.ok(engine.diagnostics().some((d) => d.code === 'dest-bad-json' && d.line === 2))
    assert.match(String(theirHook(text)('bad.example')), /^throws SyntaxError/)
    counts.deliberate++
  })

  // issue 11 section 3: a route that cannot be read affects routing only;
  // the action decides the recipient as written, as in 1.0.2
  it('an entry whose nexthop cannot be read is answered by its action', () => {
    const text = [
      '[domains]',
      'arr.example = {"action":"accept","nexthop":["127.0.0.1:25","bad host"]}',
      'cont.example = {"action":"continue","nexthop":"mx.example:0"}',
      'deny.example = {"action":"deny","nexthop":"smtp://127.0.0.1:2601/@127.0.0.1:2602"}',
      'port.example = {"action":"accept","nexthop":"mx.example:70000"}',
    ].join('\n')
    const engine = createEngine()
    engine.load('relay_dest_domains.ini', text)
    const theirs = theirHook(text)
    for (const host of ['arr.example', 'cont.example', 'deny.example', 'port.example']) {
      assert.equal(CODE[engine.rcpt(host).action], theirs(host), host)
      counts.domains++
    }
  })
})

describe('differential: get_mx routes against haraka-plugin-relay 1.0.2', () => {
  function theirRoute(domainsText) {
    const plugin = Object.create(require('haraka-plugin-relay'))
    plugin.cfg = { relay: { force_routing: true } }
    plugin.dest = iniReader.parseIni('relay_dest_domains.ini', {}, domainsText)
    plugin.logdebug = () => {}
    return (domain) => {
      let out
      plugin.force_routing((rc, msg) => (out = rc === constants.ok ? { status: 'nexthop', nexthop: msg } : { status: 'mx' }), {}, domain)
      return out
    }
  }

  // issue 11 section 4: `any` is for domains without an entry, as in
  // 1.0.2, Postfix transport maps and qmail smtproutes
  it('a listed domain without a nexthop goes by MX; `any` routes only the domains without an entry', () => {
    const text = [
      '[domains]',
      'listed.example = {"action":"accept"}',
      'cont.example = {"action":"continue"}',
      'deny.example = {"action":"deny"}',
      'empty.example = {}',
      'routed.example = {"action":"accept","nexthop":"192.0.2.25:2525"}',
      'list.example = {"nexthop":["192.0.2.30","lmtp://192.0.2.31:24"]}',
      'any = {"nexthop":"smarthost.example:25"}',
    ].join('\n')
    const engine = createEngine()
    engine.load('relay.ini', '[relay]\nforce_routing=true\n')
    engine.load('relay_dest_domains.ini', text)
    const theirs = theirRoute(text)
    for (const host of ['listed.example', 'cont.example', 'deny.example', 'empty.example', 'routed.example', 'list.example', 'unlisted.example', 'sub.listed.example']) {
      const r = engine.route(host)
      assert.deepEqual(r.status === 'nexthop' ? { status: r.status, nexthop: r.nexthop } : { status: r.status }, theirs(host), host)
      counts.domains++
    }
    // without `any`, every domain without a nexthop goes by MX
    const bare = text.replace(/^any = .*$/m, '')
    engine.load('relay_dest_domains.ini', bare)
    const theirsBare = theirRoute(bare)
    for (const host of ['listed.example', 'unlisted.example']) {
      assert.deepEqual({ status: engine.route(host).status }, theirsBare(host), host)
      counts.domains++
    }
  })

  it('reports how many cases ran', () => {
    const total = counts.acl + counts.ipaddr + counts.ini + counts.domains + counts.deliberate
    console.log(`differential cases: ${JSON.stringify(counts)} total ${total}`)
    assert.ok(total > 100000)
  })
})
