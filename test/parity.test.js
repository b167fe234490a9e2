// Parity with what Haraka reads, beyond test/differential.test.js:
//  - lists: the entries relay.wasm reads from relay_acl_allow, line by line,
//    equal what haraka-config returns for a 'list' file (then cut at '#' and
//    trimmed, as haraka-plugin-relay 1.0.2 does);
//  - CIDR matching: 1,000,000 random (address, entry) pairs agree with
//    ipaddr.js, apart from the documented fixes;
//  - INI: for random relay_dest_domains.ini files (sections, keys, values,
//    comments, continuations, line ends) the keys and the values the module
//    sees equal what haraka-config's INI reader returns; a value is seen
//    whole through its nexthop, handed back as it was written.
// Unicode blanks (NBSP, U+2003, U+3000, a BOM on any line) are trimmed as
// haraka-config trims them (JavaScript's trim).  Documented differences are
// generated on purpose and asserted as such: a parameter line starting with
// '[' is refused (and ends the section: the entries after it, up to the next
// header, are refused); an entry written as ::ffff:a.b.c.d/96+n is the IPv4
// block a.b.c.d/n.
// RELAY_PARITY_SEED replays a run.
'use strict'

const assert = require('node:assert/strict')
const { describe, it } = require('node:test')

const ipaddr = require('ipaddr.js')
const flatReader = require('haraka-config/lib/readers/flat.js')
const iniReader = require('haraka-config/lib/readers/ini.js')

const { createEngine } = require('../js/engine')
const { rng } = require('./support/rng')
const { RANK } = require('./support/action-rank')
const { domainsOf, occurrencesOf } = require('./support/reference')

iniReader.logger = () => {}


const SEED = Number(process.env.RELAY_PARITY_SEED || 20261126)
const UNICODE_BLANKS = ['\u00a0', '\u2003', '\u3000', '\ufeff']

describe('parity: relay_acl_allow as a haraka-config list', () => {
  // One list: unique hosts and disjoint blocks (so each valid entry is found
  // by its own address), junk, comments, blanks and every line end.
  function randomList(r, n) {
    const lines = []
    const valid = new Map() // line -> { entry, probe }
    let host = 0
    for (let i = 0; i < n; i++) {
      const roll = r()
      const pad = () => r.pick(['', '', ' ', '\t', '  \t', '\v', '\f'])
      let line
      if (roll < 0.45) {
        host++
        const kind = r.int(4)
        const v4 = `10.${(host >> 16) & 255}.${(host >> 8) & 255}.${host & 255}`
        // a /24 of its own for kind 3 (host then skips to the next /24), probed
        // at an address inside it other than the one written
        const net24 = `172.${16 + (host >> 16)}.${(host >> 8) & 255}`
        const entry = kind === 0 ? v4 : kind === 1 ? `${v4}/32` : kind === 2 ? `2001:db8::${host.toString(16)}` : `${net24}.0/24`
        const probe = kind === 3 ? `${net24}.${1 + r.int(255)}` : entry.split('/')[0]
        if (kind === 3) host += 255
        const comment = r() < 0.2 ? ` # ${r.pick(['office', 'vpn', '#', ''])}` : ''
        line = `${pad()}${entry}${pad()}${comment}`
        valid.set(lines.length + 1, { entry, probe })
      } else if (roll < 0.65) {
        line = `${pad()}${r.pick(['#', ';'])}${r.pick(['', ' 192.0.2.1', ' note', '#'])}`
      } else if (roll < 0.75) {
        line = pad()
      } else if (roll < 0.95) {
        const junk = r.pick(['300.1.1.1', '10.1', 'localhost', '192.0.2.0/33', '192.0.2.0/24 junk', 'fe80::1%eth0', '010.1.1.1', '1::2::3', '192.0.2.1;x', 'a b c', '::ffff:1.2.3.04', '/24', '192.0.2.0/024'])
        line = `${pad()}${junk}${pad()}`
      } else {
        // a Unicode blank: trimmed by both, as JavaScript's trim does
        host++
        const entry = `10.${(host >> 16) & 255}.${(host >> 8) & 255}.${host & 255}`
        const blank = r.pick(UNICODE_BLANKS)
        line = r() < 0.5 ? `${blank}${entry}` : `${entry}${blank}`
        valid.set(lines.length + 1, { entry, probe: entry })
      }
      lines.push(line)
    }
    const eol = r() < 0.7 ? r.pick(['\n', '\r\n', '\r']) : null
    let prev = ''
    const text = lines
      .map((l) => {
        let end = eol ?? r.pick(['\n', '\r\n', '\r'])
        if (prev === '\r' && l === '' && end === '\n') end = '\r\n' // "\r" + "\n" would be one line end
        prev = end
        return l + end
      })
      .join('')
    return { text: (r() < 0.1 ? '\ufeff' : '') + text, lines, valid }
  }

  it('reads the same entries, line by line, as haraka-config and 1.0.2', () => {
    const r = rng(SEED)
    const engine = createEngine()
    let entries = 0
    let unicode = 0
    for (let n = 0; n < 1500; n++) {
      const { text, lines, valid } = randomList(r, 1 + r.int(30))
      engine.load('relay_acl_allow', text)
      // haraka-config's list, then haraka-plugin-relay 1.0.2's cut at '#'
      const theirs = flatReader
        .parseValue('relay_acl_allow', 'list', {}, text)
        .map((e) => e.split('#')[0].trim())
        .filter((e) => e)
      // ours: every line that holds an entry, valid or refused, in order
      // (a refused entry is quoted in its message: the address part of it
      // for acl-bad-address, all of it for acl-bad-prefix)
      const refused = new Map()
      for (const d of engine.diagnostics()) {
        if (!d.code.startsWith('acl-bad-')) continue
        const m = d.message.match(/'(.*)'(?: is not an IP address| \(IPv)/)
        refused.set(d.line, { code: d.code, quoted: m ? m[1] : null })
      }
      const ours = []
      lines.forEach((raw, i) => {
        const line = i + 1
        if (valid.has(line)) {
          const { entry, probe } = valid.get(line)
          assert.deepEqual(engine.aclMatch(probe), { line }, `line ${line} '${raw}' in ${JSON.stringify(text)}`)
          ours.push({ line, text: entry })
        } else if (refused.has(line)) {
          ours.push({ line, ...refused.get(line) })
        }
      })
      let k = 0
      for (const o of ours) {
        const raw = lines[o.line - 1]
        const t = theirs[k++]
        if (UNICODE_BLANKS.some((b) => raw.includes(b))) unicode++
        if (o.code === 'acl-bad-address') assert.equal(o.quoted, t.split('/')[0], `entry ${k} (line ${o.line}) in ${JSON.stringify(text)}`)
        else assert.equal(o.text ?? o.quoted, t, `entry ${k} (line ${o.line}) in ${JSON.stringify(text)}`)
        entries++
      }
      assert.equal(k, theirs.length, `entries: ours ${ours.length}, haraka-config ${theirs.length} in ${JSON.stringify(text)}`)
    }
    console.log(`list parity: ${entries} entries equal, ${unicode} of them with Unicode blanks trimmed`)
    assert.ok(entries > 10000)
  })
})

describe('parity: CIDR matching against ipaddr.js', () => {
  function v4(r) {
    return `${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}`
  }
  // IPv6 text in full or with a '::', as written by hand
  function v6(r) {
    const g = []
    for (let i = 0; i < 8; i++) g.push(r.int(65536).toString(16))
    if (r() < 0.5) g[0] = '2001'
    if (r() < 0.5) g[1] = 'db8'
    if (r() < 0.3) {
      const from = 2 + r.int(5)
      return `${g.slice(0, from).join(':')}::${r() < 0.5 ? g[7] : ''}`
    }
    return g.join(':')
  }
  function text(bytes) {
    if (bytes.length === 4) return bytes.join('.')
    const g = []
    for (let i = 0; i < 16; i += 2) g.push(((bytes[i] << 8) | bytes[i + 1]).toString(16))
    return g.join(':')
  }
  // an address inside the block: its host bits at random
  function inside(r, bytes, len) {
    const b = bytes.slice()
    for (let bit = len; bit < b.length * 8; bit++) if (r() < 0.5) b[bit >> 3] ^= 0x80 >> (bit & 7)
    return text(b)
  }

  it('1,000,000 random (address, entry) pairs agree', () => {
    const r = rng(SEED + 1)
    const engine = createEngine()
    const count = { pairs: 0, hits: 0, mapped: 0 }
    const ENTRIES = 10000
    const PER_ENTRY = 100
    for (let i = 0; i < ENTRIES; i++) {
      const roll = r()
      let entry
      let net
      let len
      if (roll < 0.55) {
        len = r.int(33)
        entry = `${v4(r)}/${len}`
        ;[net] = ipaddr.parseCIDR(entry)
      } else if (roll < 0.9) {
        len = r.int(129)
        entry = `${v6(r)}/${len}`
        ;[net] = ipaddr.parseCIDR(entry)
      } else {
        // documented: ::ffff:a.b.c.d/96+n is the IPv4 block a.b.c.d/n
        const n = r.int(33)
        const a = v4(r)
        entry = `::ffff:${a}/${96 + n}`
        net = ipaddr.parse(a)
        len = n
        count.mapped++
      }
      engine.load('relay_acl_allow', entry)
      const bytes = net.toByteArray()
      const kind = net.kind()
      for (let k = 0; k < PER_ENTRY; k++) {
        const pick = r()
        let client = pick < 0.4 ? inside(r, bytes, len) : pick < 0.7 ? v4(r) : v6(r)
        if (!client.includes(':') && r() < 0.25) client = `::ffff:${client}` // a mapped client is the IPv4 host
        const c = ipaddr.process(client)
        const expected = c.kind() === kind && c.match(net, len)
        const got = engine.aclMatch(client)
        if (!!got !== expected) assert.fail(`entry ${entry}, client ${client}: ours ${!!got}, ipaddr.js ${expected}`)
        count.pairs++
        if (expected) count.hits++
      }
    }
    console.log(`CIDR parity: ${JSON.stringify(count)}`)
    assert.ok(count.pairs >= 1000000)
  })
})

describe('parity: relay_dest_domains.ini as haraka-config reads it', () => {
  const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_@:.+-/'
  function randomKey(r) {
    let k = ''
    const n = 1 + r.int(12)
    for (let i = 0; i < n; i++) k += KEY_CHARS[r.int(KEY_CHARS.length)]
    if (r() < 0.1) k += `[${r.int(9)}]` // brackets inside a key, not at its start
    return r() < 0.5 ? `${k}.example` : k
  }
  function randomValue(r, id) {
    const ws = () => r.pick(['', ' ', '  ', '\t'])
    const roll = r()
    const hop = `h${id}.example:${1 + r.int(65535)}`
    if (roll < 0.75) return `{${ws()}"action"${ws()}:${ws()}"${r.pick(['accept', 'continue', 'deny'])}"${ws()},${ws()}"nexthop":${ws()}"${hop}"${ws()}}`
    if (roll < 0.85) return `{"nexthop":"${hop}"}`
    if (roll < 0.92) return `{"action":"accept","nexthop":"${hop}"` // broken JSON
    return null // no value at all
  }

  function randomFile(r) {
    const lines = []
    const sections = ['domains', 'domains', 'domains', ' domains ', 'Domains', 'main', 'other']
    // keys after '[x] = {}' up to the next header: the module refuses them
    const limbo = new Set()
    let inLimbo = false
    let id = 0
    if (r() < 0.3) lines.push(`${randomKey(r)} = ${randomValue(r, id++) ?? '{}'}`)
    const blocks = 1 + r.int(4)
    for (let b = 0; b < blocks; b++) {
      lines.push(`${r.pick(['', ' ', '\t'])}[${r.pick(sections)}]${r.pick(['', ' ', '\t '])}`)
      inLimbo = false
      const n = r.int(10)
      for (let i = 0; i < n; i++) {
        const roll = r()
        if (roll < 0.08) lines.push(r.pick(['# note', ' ; note', '#', ';[domains]']))
        else if (roll < 0.12) lines.push(r.pick(['', ' ', '\t']))
        else if (roll < 0.16) {
          const junk = r.pick(['not a line', 'a b = c', '= value', '[x] = {}', 'key junk'])
          if (junk.startsWith('[')) inLimbo = true
          lines.push(junk)
        } else {
          const key = randomKey(r)
          if (inLimbo) limbo.add(key.toLowerCase())
          const value = randomValue(r, id++)
          let line = value === null ? key : `${key}${r.pick(['=', ' = ', '= ', ' =\t', '\t=  '])}${value}${r.pick(['', ' ', '\t'])}`
          if (roll < 0.3 && line.length > 3) {
            // continuations, anywhere in the line, trailing blanks after the backslash
            const cut = 1 + r.int(line.length - 2)
            lines.push(`${line.slice(0, cut)}\\${r.pick(['', ' ', '\t '])}`)
            if (r() < 0.2) lines.push(r.pick(['# a comment between', '']))
            line = line.slice(cut)
          }
          lines.push(line)
        }
      }
    }
    const eol = r.pick(['\n', '\r\n', '\r'])
    return { text: lines.join(eol) + (r() < 0.5 ? eol : ''), limbo }
  }

  function expected(raw) {
    if (raw === undefined) return { action: 'invalid' }
    let v
    try {
      v = JSON.parse(raw)
    } catch {
      return { action: 'invalid' }
    }
    return { action: v.action ?? 'noaction', nexthop: v.nexthop }
  }

  it('the keys and values of [domains] equal haraka-config (narrower where keys conflict)', () => {
    const r = rng(SEED + 2)
    const engine = createEngine()
    const count = { files: 0, keys: 0, values: 0, absent: 0, refused: 0, conflicts: 0 }
    for (let n = 0; n < 3000; n++) {
      const { text, limbo } = randomFile(r)
      engine.load('relay_dest_domains.ini', text)
      const theirs = iniReader.parseIni('relay_dest_domains.ini', {}, text).domains ?? {}
      // every key line of [domains] with the line it starts on, and the
      // reading README gives (test/support/reference.js): the lines that
      // are expected come from the text, not from the module
      const walk = occurrencesOf(text).filter((o) => o.key !== null)
      const occurrences = walk.filter((o) => o.section === 'domains')
      const ref = domainsOf(text)
      for (const key of limbo) assert.ok(walk.some((o) => o.limbo && o.key.toLowerCase() === key), `the walk sees '${key}' after a '[' line in ${JSON.stringify(text)}`)
      // every word that could be a key: those in the file, and an absent one
      const candidates = new Set(text.match(/[\w@:.+\-/[\]]+/g) ?? [])
      candidates.add('absent.example')
      for (const key of candidates) {
        if (key.startsWith('[') || key.toLowerCase() !== key) continue
        const ours = engine.rcpt(key)
        const where = `'${key}' in ${JSON.stringify(text)}`
        assert.deepEqual(ours, ref.rcpt(key), where)
        if (!Object.prototype.hasOwnProperty.call(theirs, key)) {
          assert.equal(ours.action, 'unlisted', `'${key}' is not a key of [domains] in ${JSON.stringify(text)}`)
          count.absent++
          continue
        }
        if (key.startsWith('.')) {
          // a subdomain key (issue 14, test/suffix-keys.test.js): the entry of
          // the names that end in it, not of the key itself as a recipient
          // (the reference, asserted above, reads it so)
          count.subdomain = (count.subdomain || 0) + 1
          continue
        }
        const want = expected(theirs[key])
        const named = occurrences.filter((o) => o.key.toLowerCase() === key)
        if (named.some((o) => o.limbo)) {
          // documented: written after a line that starts with '[' but is no
          // header, where haraka-config reads it in [domains]: refused, or
          // narrower still
          assert.ok(RANK[ours.action] <= RANK.invalid, `'${key}' after a '[' line: ${ours.action}`)
          count.refused++
          continue
        }
        if (new Set(named.map((o) => JSON.stringify(expected(o.value)))).size > 1) {
          // the narrowest of the meanings holds: never wider than haraka-config's
          assert.ok(RANK[ours.action] <= RANK[want.action], `'${key}': ${ours.action} is wider than ${want.action} in ${JSON.stringify(text)}`)
          count.conflicts++
          continue
        }
        assert.equal(ours.action, want.action, where)
        count.keys++
        if (want.nexthop && ours.action !== 'invalid') {
          // the value as the module read it, through the route it gives, on
          // the line where the key is first written
          const route = engine.route(key)
          assert.deepEqual(route, { status: 'nexthop', key, line: named[0].line, nexthop: want.nexthop }, where)
          count.values++
        }
      }
      count.files++
    }
    console.log(`INI parity: ${JSON.stringify(count)}`)
    assert.ok(count.keys > 10000 && count.values > 5000 && count.refused > 0 && count.conflicts > 0)
  })

  it('documented difference: a parameter line starting with [ is refused, where haraka-config reads a key', () => {
    const text = '[domains]\n[x]y = {"action":"accept"}\na.example = {"action":"accept"}\n'
    const engine = createEngine()
    engine.load('relay_dest_domains.ini', text)
    const theirs = iniReader.parseIni('relay_dest_domains.ini', {}, text).domains
    assert.equal(theirs['[x]y'], '{"action":"accept"}')
    assert.ok(engine.diagnostics().some((d) => d.code === 'ini-invalid-line' && d.line === 2))
    // and it ends [domains]: the entries after it are refused
    assert.equal(theirs['a.example'], '{"action":"accept"}')
    assert.equal(engine.rcpt('a.example').action, 'invalid')
  })
})
