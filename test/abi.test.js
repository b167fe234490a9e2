// The boundary between relay.wasm and JS: the enums of src/relay.h, the
// relay.ini switches and the packed answers must mean the same on both
// sides.  js/wasm-module.js keeps no copies of them: it reads what the
// module says of itself (relay_abi, src/exports.c).  This test reads
// src/relay.h and src/exports.c as text and checks that the committed
// module says the same, value by value, and that the answers decoded with
// it are right; a value changed on one side only fails here.
'use strict'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { describe, it } = require('node:test')

const { createEngine, FILES } = require('../js/engine')

const SRC = path.join(__dirname, '..', 'src')

/* The enums and #defines of a C header: { consts: Map name -> value,
 * enums: Map tag (or first name, for an anonymous enum) -> [names] }.
 * Values are integers, earlier names, a unary minus and `|`, which is all
 * relay.h uses; anything else is an error here, never a guess. */
function parseHeader(text) {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '')
  const consts = new Map()
  const term = (t) => {
    const s = t.trim().replace(/^\((.*)\)$/, '$1').trim()
    if (/^-?\d+$/.test(s)) return Number(s)
    if (/^-\w+$/.test(s)) return -term(s.slice(1))
    if (consts.has(s)) return consts.get(s)
    throw new Error(`relay.h: cannot evaluate '${t}'`)
  }
  const value = (expr) =>
    expr
      .trim()
      .replace(/^\((.*)\)$/, '$1')
      .split('|')
      .reduce((acc, t) => acc | term(t), 0)
  const enums = new Map()
  for (const m of src.matchAll(/\benum\s*(\w*)\s*\{([^}]*)\}/g)) {
    const names = []
    let next = 0
    for (const item of m[2].split(',').map((s) => s.trim()).filter(Boolean)) {
      const [, name, expr] = /^(\w+)\s*(?:=\s*([^]+))?$/.exec(item)
      const v = expr === undefined ? next : value(expr)
      consts.set(name, v)
      names.push(name)
      next = v + 1
    }
    enums.set(m[1] || names[0], names)
  }
  for (const m of src.matchAll(/^#define\s+(\w+)[ \t]+(\S.*)$/gm)) consts.set(m[1], value(m[2]))
  return { consts, enums }
}

const header = parseHeader(fs.readFileSync(path.join(SRC, 'relay.h'), 'utf8'))
const exportsC = fs.readFileSync(path.join(SRC, 'exports.c'), 'utf8')
const define = (name) => {
  const m = new RegExp(`^#define\\s+${name}\\s+(\\d+)u?\\b`, 'm').exec(exportsC)
  assert.ok(m, `src/exports.c defines ${name}`)
  return Number(m[1])
}

/* The names the JS API gives each value (what decide.js, the plugin, the
 * CLI and the page compare with): this is the specification, per enum of
 * relay.h, with the key of its list in the module's description. */
const JS_NAMES = {
  relay_file: ['files', { RELAY_FILE_INI: 'relay.ini', RELAY_FILE_ACL: 'relay_acl_allow', RELAY_FILE_DOMAINS: 'relay_dest_domains.ini' }],
  relay_severity: ['severities', { RELAY_ERROR: 'error', RELAY_WARNING: 'warning', RELAY_INFO: 'info' }],
  relay_action: [
    'actions',
    {
      RELAY_ACTION_UNLISTED: 'unlisted',
      RELAY_ACTION_ACCEPT: 'accept',
      RELAY_ACTION_CONTINUE: 'continue',
      RELAY_ACTION_DENY: 'deny',
      RELAY_ACTION_NONE: 'noaction',
      RELAY_ACTION_INVALID: 'invalid',
    },
  ],
  relay_route: ['routes', { RELAY_ROUTE_MX: 'mx', RELAY_ROUTE_NEXTHOP: 'nexthop', RELAY_ROUTE_INVALID: 'invalid' }],
  relay_acl_answer: ['acl', { RELAY_ACL_NOT_ADDRESS: 'not-address', RELAY_ACL_UNLISTED: 'unlisted', RELAY_ACL_LISTED: 'listed' }],
}

const core = createEngine()
const abi = core.abi

describe('the boundary: src/relay.h, src/exports.c and js/wasm-module.js agree', () => {
  for (const [tag, [key, names]] of Object.entries(JS_NAMES)) {
    it(`enum ${tag}: every value, in the module and as wasm-module.js decodes it`, () => {
      const inHeader = header.enums.get(tag)
      assert.ok(inHeader, `src/relay.h has enum ${tag}`)
      // a value added to the header needs a JS name (and the module must list it)
      assert.deepEqual(
        inHeader.filter((n) => !n.endsWith('_COUNT')),
        Object.keys(names),
        `enum ${tag} of src/relay.h and the names of this test`,
      )
      const want = Object.entries(names).map(([c, name]) => ({ c, value: header.consts.get(c), name }))
      assert.deepEqual(abi.raw[key], want, `relay_abi's ${key} against src/relay.h`)
      if (key !== 'acl') {
        for (const { c, name } of want) assert.equal(abi[key][header.consts.get(c)], name, `wasm-module.js: ${c}`)
      }
    })
  }

  it('FILES of wasm-module.js are the files of relay.h, by value', () => {
    const names = JS_NAMES.relay_file[1]
    assert.equal(FILES.length, header.consts.get('RELAY_FILE_COUNT'))
    for (const [c, name] of Object.entries(names)) assert.equal(FILES[header.consts.get(c)], name, c)
  })

  it('the relay.ini switches: names, bits and defaults of relay.h', () => {
    const bits = header.enums.get('RELAY_SET_ACL')
    assert.ok(bits, 'src/relay.h has the RELAY_SET_* enum')
    // each switch is RELAY_SET_ and its name in capitals (force_routing: RELAY_SET_FORCE_ROUTING)
    assert.deepEqual(
      abi.settings.map((s) => `RELAY_SET_${s.name.toUpperCase()}`),
      bits,
      'the switches of relay_abi and the RELAY_SET_* of relay.h',
    )
    const defaults = header.consts.get('RELAY_SET_DEFAULTS')
    assert.equal(typeof defaults, 'number', 'src/relay.h defines RELAY_SET_DEFAULTS')
    for (const s of abi.settings) {
      const c = `RELAY_SET_${s.name.toUpperCase()}`
      assert.equal(s.bit, header.consts.get(c), `${c}: bit`)
      assert.equal(s.default, (defaults & s.bit) !== 0, `${c}: default`)
      assert.equal(abi.defaults[s.name], s.default)
    }
    // a fresh engine answers the defaults
    assert.deepEqual(core.settings(), abi.defaults)
  })

  it('the packing of relay_rcpt and relay_route_for: exports.c and the module', () => {
    assert.deepEqual(abi.raw.packing, {
      line_shift: define('LINE_SHIFT'),
      action_mask: define('ACTION_MASK'),
      route_mask: define('ROUTE_MASK'),
      via_any: define('VIA_ANY_BIT'),
    })
    assert.equal(abi.notAddress, header.consts.get('RELAY_ACL_NOT_ADDRESS'))
  })
})

describe('answers decoded with the description', () => {
  // entries from line 11 on: a line that fits in the enum's bits would hide a wrong shift
  const pad = Array.from({ length: 9 }, (_, i) => `; padding ${i + 1}`)
  const DOMAINS = [
    '[domains]',
    ...pad,
    'acc.example = { "action": "accept" }', // 11
    'con.example = { "action": "continue" }', // 12
    'den.example = { "action": "deny", "nexthop": "mx.den.example:2525" }', // 13
    'non.example = { "nexthop": ["a.example", "smtp://[2001:db8::25]:25"] }', // 14
    'inv.example = { "action": "maybe" }', // 15
    'any = { "nexthop": "smart.example" }', // 16
  ].join('\n')

  it('relay_rcpt: every action with its line', () => {
    const e = createEngine()
    e.load('relay_dest_domains.ini', DOMAINS)
    assert.deepEqual(
      ['acc', 'con', 'den', 'non', 'inv', 'unl'].map((d) => e.rcpt(`${d}.EXAMPLE`)),
      [
        { action: 'accept', line: 11 },
        { action: 'continue', line: 12 },
        { action: 'deny', line: 13 },
        { action: 'noaction', line: 14 },
        { action: 'invalid', line: 15 },
        { action: 'unlisted', line: 0 },
      ],
    )
  })

  it('relay_route_for: every route, via any or not, its text by its length', () => {
    const e = createEngine()
    e.load('relay.ini', '[relay]\nforce_routing = true\n')
    e.load('relay_dest_domains.ini', DOMAINS)
    assert.deepEqual(e.route('den.example'), { status: 'nexthop', key: 'den.example', line: 13, nexthop: 'mx.den.example:2525' })
    assert.equal(e.exports.relay_output_length(), Buffer.byteLength('"mx.den.example:2525"'))
    assert.deepEqual(e.route('non.example'), { status: 'nexthop', key: 'non.example', line: 14, nexthop: ['a.example', 'smtp://[2001:db8::25]:25'] })
    assert.deepEqual(e.route('acc.example'), { status: 'mx' })
    assert.deepEqual(e.route('elsewhere.example'), { status: 'nexthop', key: 'any', line: 16, nexthop: 'smart.example' })
    const bad = e.route('inv.example')
    assert.equal(bad.status, 'invalid')
    assert.equal(bad.line, 15)
    assert.equal(bad.key, 'inv.example')
    assert.ok(bad.why.length > 0)
    assert.equal(e.exports.relay_output_length(), Buffer.byteLength(bad.why))
  })

  it('relay_key_for: the key of the entry that decides, by its length in the output', () => {
    const e = createEngine()
    e.load('relay_dest_domains.ini', '[domains]\nExact.Example = { "action": "deny" }\n.Sub.Example = { "action": "accept" }\n')
    assert.equal(e.rcptKey('EXACT.example'), 'exact.example')
    assert.equal(e.rcptKey('a.b.sub.example'), '.sub.example')
    assert.equal(e.exports.relay_output_length(), Buffer.byteLength('.sub.example'))
    assert.deepEqual(e.rcpt('a.b.sub.example'), { action: 'accept', line: 3 })
    assert.equal(e.rcptKey('sub.example'), '')
    assert.equal(e.exports.relay_output_length(), 0)
    assert.equal(e.rcptKey(''), '')
  })

  it('relay_settings_bits: each switch on its own, and the line that set it', () => {
    for (const s of abi.settings) {
      const e = createEngine()
      // every switch set, this one to the opposite of its default, on line 10 + its index
      const lines = ['[relay]', ...pad.slice(0, 8)]
      abi.settings.forEach((o, i) => {
        lines[9 + i] = `${o.name} = ${o === s ? !o.default : o.default}`
      })
      e.load('relay.ini', lines.join('\n'))
      const want = { ...abi.defaults, [s.name]: !s.default }
      assert.deepEqual(e.settings(), want, `only ${s.name} changed`)
      assert.deepEqual(e.settingLines(), Object.fromEntries(abi.settings.map((o, i) => [o.name, 10 + i])))
    }
    const fresh = createEngine()
    assert.deepEqual(fresh.settingLines(), { acl: 0, force_routing: 0, dest_domains: 0, all: 0 })
    // set twice: the line in force is the later one
    fresh.load('relay.ini', '[relay]\nall = true\n\nall = yes\n')
    assert.equal(fresh.settingLines().all, 4)
  })

  it('relay_acl: listed, unlisted and not an address are three answers', () => {
    const e = createEngine()
    e.load('relay_acl_allow', `${pad.join('\n')}\n192.0.2.0/24\n2001:db8::/32\n`)
    assert.deepEqual(e.aclAnswer('192.0.2.9'), { address: true, line: 10 })
    assert.deepEqual(e.aclAnswer('2001:db8::1'), { address: true, line: 11 })
    assert.deepEqual(e.aclAnswer('198.51.100.1'), { address: true, line: 0 })
    for (const junk of ['', 'localhost', '192.0.2.9/32', '010.1.1.1', 'fe80::1%eth0', null, 42, 'x'.repeat(200)]) {
      assert.deepEqual(e.aclAnswer(junk), { address: false, line: 0 }, String(junk))
      assert.equal(e.aclMatch(junk), null, String(junk))
    }
    assert.deepEqual(e.aclMatch('192.0.2.9'), { line: 10 })
    assert.equal(e.aclMatch('198.51.100.1'), null)
  })

  it('diagnostics at one place keep the order they were found in', () => {
    // qsort is not stable.  Line 2 of relay_dest_domains.ini holds three
    // warnings at column 0: its bad nexthop (found while reading), then the
    // two checks across files, in the order they are made.  Without a last
    // key for the sort, wasi-libc's qsort put the last two the other way
    // round (a module built so failed here).
    const d = ['[domains]']
    for (let i = 0; i < 50; i++) d.push(`d${i}.example = { "action": "accept", "nexthop": "bad host" }`, `d${i}.example = { "action": "deny" }`)
    const e = createEngine()
    e.load('relay_dest_domains.ini', d.join('\n'))
    assert.deepEqual(
      e.diagnostics().filter((x) => x.line === 2).map((x) => x.code),
      ['dest-bad-nexthop', 'nexthop-unused', 'dest-domains-off'],
    )
    // relay.ini: each `acl` line after the first gives two warnings at its
    // column 1, set again (found first), then not a truth word; the last
    // `all` line gives ini-duplicate-key, then open-relay (found last)
    const lines = ['[relay]', 'acl = true']
    for (let i = 0; i < 300; i++) lines.push(`acl = maybe${i}`)
    lines.push('acl = true', 'all = true', 'all = true')
    e.load('relay_dest_domains.ini', '')
    e.load('relay.ini', lines.join('\n'))
    const want = []
    for (let i = 0; i < 300; i++) want.push([3 + i, 'ini-duplicate-key'], [3 + i, 'ini-not-boolean'])
    want.push([303, 'ini-duplicate-key'], [305, 'ini-duplicate-key'], [305, 'open-relay'])
    assert.deepEqual(
      e.diagnostics().map((x) => [x.line, x.code]),
      want,
    )
  })
})
