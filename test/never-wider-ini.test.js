// A line relay-wasm cannot read never widens who may relay (issue 9, part 2).
//
// Differential property test over generated relay.ini, relay_acl_allow and
// relay_dest_domains.ini: every character of JavaScript's \s, control
// characters (C0, DEL, C1), readable and broken section headers, the known
// keys, comments, continuations, CRLF / CR / LF.  Each set is read
//   - by the module (js/engine.js), and
//   - by haraka-config (lib/readers/ini.js parseIni, lib/readers/flat.js
//     'list'), as haraka-plugin-relay 1.0.2 reads it: (a) the files whole,
//     and (b) for every line the module reports with an error, the files
//     with that one line removed.
// For every (client, recipient) pair of a fixed set, the module may grant
// relaying only where every one of those readings grants it.  "Grants" is
// modelled simply: a client relays when acl is on and the ACL holds it (the
// reference ACL is the list read with ipaddr.js); a recipient is accepted
// when the client relays, or all is on, or dest_domains is on and the
// domain's value parses to action accept or continue.  RELAY_NEVER_WIDER_SEED
// replays a run; RELAY_NEVER_WIDER_CASES sets how many sets are made.
'use strict'

const assert = require('node:assert/strict')
const { describe, it } = require('node:test')

const ipaddr = require('ipaddr.js')
const iniReader = require('haraka-config/lib/readers/ini')
const flatReader = require('haraka-config/lib/readers/flat')

const { createEngine } = require('../js/engine')
const { rng } = require('./support/rng')

iniReader.logger = () => {}

const SEED = Number(process.env.RELAY_NEVER_WIDER_SEED || 20260909)
const CASES = Number(process.env.RELAY_NEVER_WIDER_CASES || 4000)
// haraka-plugin-relay 1.0.2's declaration (its +force_routing is its code's
// default; relay-wasm's is false: irrelevant to who may relay)
const RELAY_BOOLEANS = ['+relay.acl', '+relay.force_routing', '-relay.all', '-relay.dest_domains']

const CLIENTS = ['192.0.2.1', '192.0.2.77', '198.51.100.5', '203.0.113.9', '2001:db8::1', '2001:db8::abcd']
const DOMAINS = ['good.example', 'evil.example', 'other.example', 'any', 'constructor', '__proto__', 'prototype']

// Every character of JavaScript's \s but the line ends, and the controls.
const SPACES = ['\t', '\v', '\f', ' ', '\u00a0', '\u1680', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff']
for (let c = 0x2000; c <= 0x200a; c++) SPACES.push(String.fromCharCode(c))
const CONTROLS = []
for (let c = 0; c < 0x20; c++) if (!'\t\n\v\f\r'.includes(String.fromCharCode(c))) CONTROLS.push(String.fromCharCode(c))
CONTROLS.push('\x7f')
for (let c = 0x80; c <= 0x9f; c++) CONTROLS.push(String.fromCharCode(c))

const counts = { sets: 0, readings: 0, pairs: 0, errorLines: 0, named: 0 }

/* ---- the reference: Haraka's reading, as 1.0.2 uses it ---------------- */

function harakaRelay(text) {
  const cfg = iniReader.parseIni('relay.ini', { booleans: RELAY_BOOLEANS }, text)
  return { acl: !!cfg.relay.acl, all: !!cfg.relay.all, dest_domains: !!cfg.relay.dest_domains }
}

function harakaDomains(text) {
  const domains = iniReader.parseIni('relay_dest_domains.ini', {}, text).domains
  return (domain) => {
    const raw = domains ? domains[domain] : undefined
    if (!raw) return false
    try {
      const { action } = JSON.parse(raw) // 1.0.2 throws here on bad JSON: no grant
      return action === 'accept' || action === 'continue'
    } catch {
      return false
    }
  }
}

function harakaAcl(text) {
  const blocks = []
  for (const line of flatReader.parseValue('relay_acl_allow', 'list', {}, text)) {
    const entry = line.split('#')[0].trim()
    if (!entry) continue
    try {
      const [net, len] = entry.includes('/') ? ipaddr.parseCIDR(entry) : [ipaddr.parse(entry), null]
      blocks.push([net, len === null ? (net.kind() === 'ipv4' ? 32 : 128) : len])
    } catch {
      // not an address: no client relays by it
    }
  }
  return (ip) => {
    const addr = ipaddr.parse(ip)
    return blocks.some(([net, len]) => net.kind() === addr.kind() && addr.match(net, len))
  }
}

function harakaReading(files) {
  const relay = harakaRelay(files['relay.ini'])
  return { relay, domain: harakaDomains(files['relay_dest_domains.ini']), acl: harakaAcl(files.relay_acl_allow) }
}

function moduleReading(engine) {
  const relay = engine.settings()
  return {
    relay,
    domain: (d) => ['accept', 'continue'].includes(engine.rcpt(d).action),
    acl: (ip) => !!engine.aclMatch(ip),
  }
}

function grants(reading, ip, domain) {
  const relays = reading.relay.acl && reading.acl(ip)
  return relays || reading.relay.all || (reading.relay.dest_domains && reading.domain(domain))
}

function withoutLine(text, line) {
  const lines = text.split(/\r\n|\r|\n/)
  lines.splice(line - 1, 1)
  return lines.join('\n')
}

/* Loads the set into the module and checks it against every reading. */
function check(files, label) {
  const engine = createEngine()
  for (const [name, text] of Object.entries(files)) engine.load(name, text)
  const ours = moduleReading(engine)
  const diags = engine.diagnostics()
  const readings = [['whole', harakaReading(files)]]
  for (const d of diags) {
    if (d.severity !== 'error' || !d.line) continue
    counts.errorLines++
    const lines = files[d.file].split(/\r\n|\r|\n/)
    assert.ok(d.line <= lines.length, `${label}: ${d.file}:${d.line} is past the end of the file`)
    readings.push([`without ${d.file}:${d.line}`, harakaReading({ ...files, [d.file]: withoutLine(files[d.file], d.line) })])
  }
  for (const [what, theirs] of readings) {
    counts.readings++
    for (const ip of CLIENTS) {
      for (const domain of DOMAINS) {
        counts.pairs++
        if (grants(ours, ip, domain) && !grants(theirs, ip, domain)) {
          assert.fail(
            `${label}: relay-wasm lets ${ip} relay to ${domain}, Haraka's reading ${what} does not\n` +
              `files: ${JSON.stringify(files)}\nours: ${JSON.stringify(ours.relay)} theirs: ${JSON.stringify(theirs.relay)}\n` +
              `diagnostics: ${diags.map((x) => `${x.file}:${x.line}:${x.severity}:${x.code}`).join(' ')}`,
          )
        }
      }
    }
  }
  return { engine, ours, diags }
}

/* ---- generated files --------------------------------------------------- */

function ws(r, max = 2) {
  let s = ''
  const n = r.int(max + 1)
  for (let i = 0; i < n; i++) s += r() < 0.4 ? ' ' : r.pick(SPACES)
  return s
}

// Puts a character at a random place in s.
function inject(r, s, ch) {
  const at = r.int(s.length + 1)
  return s.slice(0, at) + ch + s.slice(at)
}

function oddChar(r) {
  const roll = r()
  if (roll < 0.5) return r.pick(CONTROLS)
  if (roll < 0.8) return r.pick(SPACES)
  return r.pick(['=', ';', '#', '[', ']', '\\', ':', 'x', '\u00e9'])
}

function header(r, names) {
  const name = r.pick(names)
  const roll = r()
  if (roll < 0.55) return `${ws(r)}[${ws(r)}${name}${ws(r)}]${ws(r)}` // readable
  if (roll < 0.65) return `[${inject(r, name, r.pick(CONTROLS))}]` // readable, an odd name
  // broken: starts with '[' but is no header (Haraka: an invalid line or a key)
  return r.pick([
    `[${name}] junk`,
    `[${name}]${r.pick(CONTROLS)}`,
    `${ws(r)}[${name}`,
    `[${name}]x`,
    `[${name}]=1`,
    `[[${name}]]`,
    `[ ${name} ] ; c`,
    `[${name}]${ws(r)}\\`,
    `[${name}]${r.pick(SPACES)}${r.pick(CONTROLS)}`,
  ])
}

function comment(r) {
  let c = `${ws(r)}${r.pick([';', '#'])} note`
  if (r() < 0.2) c = inject(r, c, r.pick(['\u2028', '\u2029'])) // `.` does not match these
  if (r() < 0.2) c = inject(r, c, r.pick(CONTROLS))
  if (r() < 0.15) c += '\\'
  return c
}

// key = value, with whitespace, controls and junk sprinkled in.
function param(r, key, value) {
  let k = key
  if (r() < 0.05) k = `${key}[]`
  let v = value
  const roll = r()
  if (roll < 0.15) v = inject(r, v, r.pick(CONTROLS))
  else if (roll < 0.25) v = inject(r, v, r.pick(SPACES))
  else if (roll < 0.3) v = inject(r, v, oddChar(r))
  let line = r() < 0.06 ? k : `${ws(r)}${k}${ws(r)}=${ws(r)}${v}${ws(r)}`
  if (r() < 0.04) line = inject(r, line, oddChar(r))
  return line
}

// Splits a line into continuation lines, sometimes with a comment, blank or
// header between them.
function split(r, line, between) {
  const out = []
  let rest = line
  const parts = 1 + r.int(2)
  for (let i = 0; i < parts && rest.length > 1; i++) {
    const cut = 1 + r.int(rest.length - 1)
    out.push(`${rest.slice(0, cut)}\\${r.pick(['', ' ', '\t', ' \t'])}`)
    rest = rest.slice(cut)
    if (r() < 0.25) out.push(between(r))
  }
  out.push(rest)
  return out
}

function junk(r) {
  let s = ''
  const n = 1 + r.int(8)
  for (let i = 0; i < n; i++) s += r() < 0.5 ? oddChar(r) : r.pick(['acl', 'all', '=', 'true', 'good.example', '{', '}', '"'])
  return s
}

function joinLines(r, lines) {
  let text = ''
  for (const line of lines) text += line + r.pick(['\n', '\n', '\r\n', '\r'])
  if (r() < 0.3) text = text.replace(/(\r\n|\r|\n)$/, '')
  return text
}

function makeIni(r, sections, keyLine) {
  const lines = []
  const between = (g) => (g() < 0.4 ? comment(g) : g() < 0.5 ? ws(g) : header(g, sections))
  const n = 2 + r.int(12)
  for (let i = 0; i < n; i++) {
    const roll = r()
    if (roll < 0.22) lines.push(header(r, sections))
    else if (roll < 0.3) lines.push(comment(r))
    else if (roll < 0.34) lines.push(ws(r))
    else if (roll < 0.38) lines.push(junk(r))
    else {
      const line = keyLine(r)
      if (r() < 0.15) lines.push(...split(r, line, between))
      else lines.push(line)
    }
  }
  return joinLines(r, lines)
}

const RELAY_KEYS = ['acl', 'acl', 'all', 'all', 'dest_domains', 'dest_domains', 'force_routing', 'constructor', 'other']
const WORDS = ['true', 'false', 'yes', 'no', 'on', 'off', '1', '0', 'ok', 'enabled', 'disabled', 'TRUE', 'maybe', '']

function makeRelayIni(r) {
  return makeIni(r, ['relay', 'relay', 'relay', 'disabled', 'old', 'main', 'Relay', 'constructor'], (g) =>
    param(g, g.pick(RELAY_KEYS), g.pick(WORDS)),
  )
}

const DOMAIN_KEYS = ['good.example', 'good.example', 'evil.example', 'evil.example', 'other.example', 'any', 'constructor', '__proto__', 'prototype']

function jsonValue(r) {
  const action = r.pick(['accept', 'accept', 'continue', 'deny', 'acept'])
  const roll = r()
  if (roll < 0.5) return JSON.stringify({ action })
  if (roll < 0.7) return `{${ws(r, 1)}"action"${ws(r, 1)}:${ws(r, 1)}"${action}"${ws(r, 1)}}` // Unicode spaces: not JSON
  if (roll < 0.8) return JSON.stringify({ action, nexthop: '192.0.2.25:2525' })
  if (roll < 0.9) return `{"action":"${action}"` // broken
  return r.pick(['1', 'true', 'null', '"accept"', '[]', '{}'])
}

function makeDomainsIni(r) {
  return makeIni(r, ['domains', 'domains', 'domains', 'old', 'main', 'Domains', '__proto__'], (g) =>
    param(g, g.pick(DOMAIN_KEYS), jsonValue(g)),
  )
}

const ACL_ENTRIES = ['192.0.2.1', '192.0.2.0/25', '198.51.100.5/32', '203.0.113.0/24', '2001:db8::1', '2001:db8::/64', '192.0.2.77']

function makeAcl(r) {
  const lines = []
  const n = r.int(6)
  for (let i = 0; i < n; i++) {
    const roll = r()
    let entry = r.pick(ACL_ENTRIES)
    if (roll < 0.1) entry = `${entry} # note`
    else if (roll < 0.2) entry = inject(r, entry, r.pick(CONTROLS))
    else if (roll < 0.25) entry = inject(r, entry, r.pick(SPACES))
    else if (roll < 0.3) entry = r.pick(['192.0.2.0/33', '192.0.2.0/24 junk', '010.0.2.1', '2001:db8::1%eth0'])
    else if (roll < 0.35) entry = comment(r)
    lines.push(`${ws(r)}${entry}${ws(r)}`)
  }
  return joinLines(r, lines)
}

const DEFAULTS = {
  'relay.ini': '[relay]\nacl=true\ndest_domains=true\n',
  relay_acl_allow: '192.0.2.1\n2001:db8::1\n',
  'relay_dest_domains.ini': '[domains]\ngood.example = {"action":"accept"}\n',
}

/* ---- the tests --------------------------------------------------------- */

describe('a line relay-wasm cannot read never widens the config (issue 9)', () => {
  // The reproductions of the issue, each with the narrow answer 1.0.2 gives.
  const named = [
    { name: 'a header ending in FF is a header', file: 'relay.ini', text: '[relay]\nacl=true\n[disabled]\f\nall=true\n', expect: { all: false } },
    { name: 'a header ending in NBSP is a header', file: 'relay.ini', text: '[relay]\nacl=true\n[disabled]\u00a0\nall=true\n', expect: { all: false } },
    { name: 'NBSP before =', file: 'relay.ini', text: '[relay]\nacl\u00a0= false', expect: { acl: false } },
    { name: 'FF after the value', file: 'relay.ini', text: '[relay]\nacl=false\f', expect: { acl: false } },
    { name: 'FF after [relay]', file: 'relay.ini', text: '[relay]\f\nacl=false', expect: { acl: false } },
    { name: 'a BOM before a key', file: 'relay.ini', text: '[relay]\n\ufeffacl=false', expect: { acl: false } },
    { name: 'a control character in a value', file: 'relay.ini', text: '[relay]\nacl=true\x00junk', expect: { acl: false } },
    { name: 'a broken header ends [relay]', file: 'relay.ini', text: '[relay]\nacl=true\n[old] junk\nall=true\n', expect: { all: false } },
    { name: 'after a broken header a key may still turn a switch off', file: 'relay.ini', text: '[relay]\nacl=true\n[x]\x01\nacl=false\n', expect: { acl: false } },
    { name: 'a refused joined line does not hide the next line', file: 'relay.ini', text: '[relay]\n\x01x\\\nacl=false\n', expect: { acl: false } },
    { name: 'a header ending in VT is a header', file: 'relay_dest_domains.ini', text: '[domains]\ngood.example = {"action":"accept"}\n[old]\v\nevil.example = {"action":"accept"}', rcpt: { 'good.example': 'accept', 'evil.example': 'unlisted' } },
    { name: 'a broken header ends [domains]', file: 'relay_dest_domains.ini', text: '[domains]\ngood.example = {"action":"accept"}\n[old] junk\nevil.example = {"action":"accept"}', rcpt: { 'good.example': 'accept', 'evil.example': 'invalid' } },
    { name: 'constructor is not a domain key', file: 'relay_dest_domains.ini', text: '[domains]\nconstructor = {"action":"accept"}\n', rcpt: { constructor: 'unlisted' } },
    { name: 'a list key refuses its domain', file: 'relay_dest_domains.ini', text: '[domains]\ngood.example = {"action":"accept"}\ngood.example[] = {"action":"deny"}\n', rcpt: { 'good.example': 'invalid' } },
    { name: 'NBSP and a BOM around an ACL entry', file: 'relay_acl_allow', text: '\u00a0192.0.2.77\ufeff\n', acl: { '192.0.2.77': true } },
  ]
  for (const c of named) {
    it(c.name, () => {
      const files = { ...DEFAULTS, 'relay.ini': '[relay]\nacl=true\ndest_domains=true\n', [c.file]: c.text }
      const { engine } = check(files, c.name)
      for (const [k, v] of Object.entries(c.expect || {})) assert.equal(engine.settings()[k], v, k)
      for (const [d, a] of Object.entries(c.rcpt || {})) assert.equal(engine.rcpt(d).action, a, d)
      for (const [ip, m] of Object.entries(c.acl || {})) assert.equal(!!engine.aclMatch(ip), m, ip)
      if (c.file !== 'relay_acl_allow') assert.ok(engine.diagnostics().every((d) => d.file !== c.file || d.line <= 4))
      counts.named++
    })
  }

  it(`holds for ${CASES} generated config sets (seed ${SEED})`, () => {
    const r = rng(SEED)
    for (let i = 0; i < CASES; i++) {
      const files = {
        'relay.ini': r() < 0.8 ? makeRelayIni(r) : DEFAULTS['relay.ini'],
        relay_acl_allow: r() < 0.7 ? makeAcl(r) : DEFAULTS.relay_acl_allow,
        'relay_dest_domains.ini': r() < 0.8 ? makeDomainsIni(r) : DEFAULTS['relay_dest_domains.ini'],
      }
      check(files, `set #${i} (seed ${SEED})`)
      counts.sets++
    }
  })

  it('reports how many cases ran', () => {
    console.log(`never-wider cases: ${JSON.stringify(counts)}`)
    assert.ok(counts.sets >= CASES && counts.pairs > 100000)
  })
})
