'use strict'
// The reference readings of the three files, for tests whose expectations
// must not come from relay.wasm itself (test/matrix/make-cases.js,
// test/bad-configs.test.js, test/differential.test.js, test/parity.test.js).
// Nothing here calls the module or reads src/: each answer is computed from
// what Haraka users run today and from the rules README.md states.
//
//   settingsOf(text)   relay.ini as haraka-config reads it, with the four
//                      booleans declared (force_routing defaults to false, as
//                      the manual says; README difference 8)
//   aclOf(text)        relay_acl_allow: the lines haraka-config's 'list'
//                      reader keeps, cut at '#' as haraka-plugin-relay 1.0.2
//                      cuts them, each entry read by ipaddr.js with README's
//                      rules (bare IPv6 is /128, /0 is everything, leading
//                      zeros, zone ids and bad prefixes refused,
//                      ::ffff:a.b.c.d/96+n is the IPv4 block a.b.c.d/n,
//                      mapped clients are IPv4); .match(ip) gives the line of
//                      the most specific block holding ip (the earliest of
//                      equal blocks) or null
//   occurrencesOf(text) relay_dest_domains.ini line by line as haraka-config's
//                      INI reader walks it (its own regexes), keeping every
//                      occurrence of a key with the line it starts on, where
//                      haraka-config keeps only the last
//   domainsOf(text)    the entries 1.0.2 would read (JSON.parse of each
//                      value), with README's deliberate differences: keys in
//                      any case, the narrowest of conflicting keys
//                      (difference 11), values that JSON.parse refuses or that
//                      are nested deeper than 64 or hold \u0000 refused
//                      (6, 17), a parameter line starting with '[' ends the
//                      section and the keys after it may only refuse (12, 15);
//                      .rcpt(domain) -> { action, line }, .route(domain) ->
//                      what RelayCore.route answers, with 1.0.2's routing
//                      (an entry's nexthop, else MX; `any` only for a domain
//                      without an entry).  Which nexthops outbound cannot
//                      read (difference 7) is not decided here: the caller
//                      names them (badRoutes).

const ipaddr = require('ipaddr.js')
const iniReader = require('haraka-config/lib/readers/ini.js')
const regex = require('haraka-config/lib/regex')
const { UNSAFE_KEYS } = require('haraka-config/lib/unsafe-keys')

iniReader.logger = () => {}

const RELAY_BOOLEANS = ['+relay.acl', '-relay.force_routing', '-relay.all', '-relay.dest_domains']
const SWITCHES = ['acl', 'force_routing', 'dest_domains', 'all']
const LINE_BREAK = /\r\n|\r|\n/
// How far an answer opens relaying, the narrowest first (README difference 11)
const NARROW = ['deny', 'invalid', 'noaction', 'continue', 'accept']

function settingsOf(text) {
  const cfg = iniReader.parseIni('relay.ini', { booleans: RELAY_BOOLEANS }, text ?? '')
  return Object.fromEntries(SWITCHES.map((k) => [k, cfg.relay[k]]))
}

/* ---- relay_acl_allow ---------------------------------------------------- */

const DECIMAL_PREFIX = /^(?:0|[1-9]\d{0,2})$/

// An address as README reads one: dotted IPv4 of four decimal parts without
// leading zeros, or IPv6 (an embedded IPv4 part likewise), no zone id.
function parseAddress(text) {
  if (text.includes(':')) {
    if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return null
    const dotted = /:([^:]*\.[^:]*)$/.exec(text)
    if (dotted && !ipaddr.IPv4.isValidFourPartDecimal(dotted[1])) return null
    return ipaddr.IPv6.parse(text)
  }
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : null
}

// One trimmed entry to a block { net, len, line }, or null when refused.
function parseEntry(entry, line) {
  const slash = entry.indexOf('/')
  const addr = parseAddress(slash < 0 ? entry : entry.slice(0, slash))
  if (!addr) return null
  const max = addr.kind() === 'ipv4' ? 32 : 128
  let len = max
  if (slash >= 0) {
    const p = entry.slice(slash + 1)
    if (!DECIMAL_PREFIX.test(p) || Number(p) > max) return null
    len = Number(p)
  }
  if (addr.kind() === 'ipv6' && addr.isIPv4MappedAddress() && len >= 96) return { net: addr.toIPv4Address(), len: len - 96, line }
  return { net: addr, len, line }
}

function aclOf(text) {
  const blocks = []
  const lines = (text ?? '').split(LINE_BREAK)
  lines.forEach((raw, i) => {
    // haraka-config's 'list' drops blank and comment lines and trims the
    // rest; 1.0.2 then cuts at '#' and trims again
    if (regex.blank.test(raw) || regex.comment.test(raw)) return
    const entry = raw.trim().split('#')[0].trim()
    if (!entry) return
    const b = parseEntry(entry, i + 1)
    if (b) blocks.push(b)
  })
  return {
    blocks,
    // the line of the most specific block holding ip, null when none does
    // or when ip is not an address (a zone id on the client is dropped)
    match(ip) {
      if (typeof ip !== 'string') return null
      let a = parseAddress(ip.includes(':') ? ip.replace(/%.*$/s, '') : ip)
      if (!a) return null
      if (a.kind() === 'ipv6' && a.isIPv4MappedAddress()) a = a.toIPv4Address()
      let best = null
      for (const b of blocks) {
        if (b.net.kind() !== a.kind() || !a.match(b.net, b.len)) continue
        if (!best || b.len > best.len) best = b
      }
      return best ? best.line : null
    },
  }
}

/* ---- relay_dest_domains.ini ------------------------------------------------ */

// Every key line as haraka-config's INI reader walks the text (same regexes,
// same order of tests), with the line it starts on.  limbo: written after a
// parameter line that starts with '[' (README difference 12: it ends the
// section; the keys after it, up to the next header, may only narrow);
// section is the section Haraka reads it in.
function occurrencesOf(text) {
  const out = []
  let section = 'main'
  let limbo = false
  let pre = ''
  let preLine = 0
  const lines = (text ?? '').split(LINE_BREAK)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (regex.comment.test(line) || regex.blank.test(line)) continue
    const header = regex.section.exec(line)
    if (header) {
      section = header[1].trim()
      limbo = false
      continue
    }
    if (regex.continuation.test(line)) {
      if (!pre) preLine = i + 1
      pre += line.replace(regex.continuation, '')
      continue
    }
    const full = pre + line
    const at = pre ? preLine : i + 1
    pre = ''
    if (/^\s*\[/.test(full)) {
      limbo = true // no header, yet it starts with '['
      continue
    }
    const m = regex.param.exec(full)
    if (!m) continue
    const [, key, value] = m
    if (UNSAFE_KEYS.has(key.replace('[]', ''))) continue
    out.push({ section, key, value, line: at, limbo })
  }
  if (pre) out.push({ section, key: null, value: undefined, line: preLine, limbo, dangling: pre })
  return out
}

// Deeper than `limit` levels of arrays and objects?  (A walk with a stack
// of its own: a value may be nested 100,000 deep.)
function deeper(v, limit) {
  const stack = [[v, 1]]
  while (stack.length) {
    const [x, d] = stack.pop()
    if (x === null || typeof x !== 'object') continue
    if (d > limit) return true
    for (const y of Object.values(x)) stack.push([y, d + 1])
  }
  return false
}

function holdsNul(v) {
  const stack = [v]
  while (stack.length) {
    const x = stack.pop()
    if (typeof x === 'string' && x.includes('\u0000')) return true
    if (x === null || typeof x !== 'object') continue
    for (const [k, y] of Object.entries(x)) {
      if (k.includes('\u0000')) return true
      stack.push(y)
    }
  }
  return false
}

// C0 but tab, DEL, C1 (README: ini-control-char)
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/

// What one value says: { action, nexthop?, routeInvalid? }.  A value that
// cannot be read at all is { action: 'invalid' } with no route of its own;
// an action that is not one of the three is refused, and its nexthop read
// as 1.0.2's get_mx reads it (JSON.parse(value).nexthop, whatever the action).
function meaningOf(value) {
  const refused = { action: 'invalid' }
  if (value === undefined || CONTROL.test(value)) return refused
  let v
  try {
    v = JSON.parse(value)
  } catch {
    return refused
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || deeper(v, 64) || holdsNul(v)) return refused
  const out = {}
  if (!Object.prototype.hasOwnProperty.call(v, 'action')) out.action = 'noaction'
  else out.action = ['accept', 'continue', 'deny'].includes(v.action) ? v.action : 'invalid'
  if (v.nexthop !== undefined) {
    const ok = (h) => typeof h === 'string' && h !== ''
    if (ok(v.nexthop) || (Array.isArray(v.nexthop) && v.nexthop.length && v.nexthop.every(ok))) out.nexthop = v.nexthop
    else out.routeInvalid = true
  }
  return out
}

const sameRoute = (a, b) =>
  a.routeInvalid || b.routeInvalid ? !!a.routeInvalid === !!b.routeInvalid : JSON.stringify(a.nexthop) === JSON.stringify(b.nexthop)

// badRoutes: { key: why } entries whose nexthop outbound cannot read
// (README difference 7, decided by the caller, by hand).
function domainsOf(text, { badRoutes = {} } = {}) {
  const entries = new Map() // lower-case key -> merged { action, line, nexthop?, routeInvalid? }
  const duplicates = [] // { name, line }: a key again with the same meaning (ini-duplicate-key)
  const conflicts = [] // { name, line }: a key again with another meaning (dest-conflicting-key)
  const put = (name, e) => {
    const earlier = entries.get(name)
    if (!earlier) return entries.set(name, e)
    if (earlier.action === e.action && sameRoute(earlier, e)) return duplicates.push({ name, line: e.line }) // the first line stands
    conflicts.push({ name, line: e.line })
    // difference 11: the narrowest holds (the earlier of two equally narrow)
    const narrow = NARROW.indexOf(earlier.action) <= NARROW.indexOf(e.action) ? earlier : e
    const merged = { action: narrow.action, line: narrow.line }
    // an entry that cannot be read and names no route: the route it meant
    // is not known, so neither is the merged one's
    const unknown = (x) => x.action === 'invalid' && x.nexthop === undefined && !x.routeInvalid
    if (unknown(earlier) !== unknown(e) || !sameRoute(earlier, e)) merged.routeInvalid = true
    else if (e.nexthop !== undefined) merged.nexthop = e.nexthop
    entries.set(name, merged)
  }
  for (const o of occurrencesOf(text)) {
    if (o.key === null) continue // a last line ending in '\': Haraka drops it
    if (o.section !== 'domains') continue
    const array = o.key.includes('[]')
    const name = o.key.replace('[]', '').toLowerCase()
    if (o.limbo || array) {
      put(name, { action: 'invalid', line: o.line })
      continue
    }
    const m = meaningOf(o.value)
    if (m.nexthop !== undefined && Object.prototype.hasOwnProperty.call(badRoutes, name)) {
      delete m.nexthop
      m.routeInvalid = true
    }
    put(name, { ...m, line: o.line })
  }
  // Subdomain keys (issue 14, test/suffix-keys.test.js): a key with a
  // leading dot, `.example.com`, is the entry of every subdomain of
  // example.com, not of example.com itself; a domain's own key comes first,
  // then the longest subdomain key that ends it, then (routing only) `any`.
  const suffixes = [...entries.keys()].filter((k) => /^\.[^.]/.test(k)).sort((a, b) => b.length - a.length)
  // [key, entry] that decides `name` (lower case), or []
  const lookup = (name) => {
    if (!name) return []
    if (entries.has(name) && !name.startsWith('.')) return [name, entries.get(name)]
    const k = suffixes.find((x) => name.length > x.length && name.endsWith(x))
    return k ? [k, entries.get(k)] : []
  }
  return {
    entries,
    duplicates,
    conflicts,
    rcpt(domain) {
      const [, e] = lookup(typeof domain === 'string' ? domain.toLowerCase() : '')
      return e ? { action: e.action, line: e.line } : { action: 'unlisted', line: 0 }
    },
    // { status: 'mx' } | { status: 'nexthop', key, line, nexthop } | { status: 'invalid', key, line }
    route(domain) {
      let [key, e] = lookup(typeof domain === 'string' ? domain.toLowerCase() : '')
      if (!e) {
        key = 'any'
        e = entries.get('any')
      }
      if (!e) return { status: 'mx' }
      // a route that cannot be read, or an entry that cannot be read and
      // names no route: the route it meant is not known, its mail is deferred
      if (e.routeInvalid || (e.action === 'invalid' && e.nexthop === undefined)) return { status: 'invalid', key, line: e.line }
      if (e.nexthop === undefined) return { status: 'mx' }
      return { status: 'nexthop', key, line: e.line, nexthop: e.nexthop }
    },
  }
}

module.exports = { settingsOf, aclOf, occurrencesOf, domainsOf, meaningOf, NARROW, SWITCHES, RELAY_BOOLEANS }
