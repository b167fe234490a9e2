/*
 * compare.js - "What changes if I switch?": where relay-wasm and
 * haraka-plugin-relay 1.0.2 answer differently on one config.
 *
 * For: js/cli.js (relay-check DIR --compare 1.0.2) and the validator page
 * (web/validator.js, "Compare with 1.0.2").  Pure: relay-wasm's answers come from a RelayCore
 * (js/wasm-module.js) through decide() (js/decide.js); 1.0.2's come from a
 * model of its code (node_modules/haraka-plugin-relay/index.js) and of what
 * Haraka hands it: haraka-config's 'ini' and 'list' readers, Node's
 * net.isIP, ipaddr.js's parse and match, JSON.parse, and Haraka's rcpt
 * dispatch (a hook that throws is logged and counts as CONT; CONT with
 * relaying set is 250, without it 550 "I cannot deliver mail for <...>").
 * No I/O, no Haraka, no globals; runs in Node and browsers.  The model is
 * checked against 1.0.2's own hooks by test/compare.test.js, example by
 * example.
 *
 *   compareWith102(core, texts) -> report
 *     texts: { 'relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini' }
 *     (the texts loaded into core; '' for a missing file).
 *     report: { items, total, narrower, wider, route, shown }
 *     item: { file, line (0: the whole file), direction ('narrower': relay-wasm
 *             refuses what 1.0.2 accepted; 'wider': relay-wasm accepts what
 *             1.0.2 refused; 'route': the same answer, mail sent elsewhere),
 *             code, message, example: { client?, recipients?, domain? },
 *             haraka_plugin_relay, relay_wasm (each side's answer to the
 *             example), and per code: lines, covers, routes }
 *   textLines(report, shown), annotations(report, shown), jsonReport(report, shown),
 *   summary(report, where): what relay-check prints (each line still to pass
 *     js/safe-text.js); shown(file) is the path a file is printed as.
 *
 *   model102(texts) -> { settings, set, client(ip), rcpts(ip, list), route(domain) }
 *     1.0.2's answers alone (the tests compare them with its real hooks).
 */
'use strict'
;(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory(require('./decide'), require('./safe-text'))
  else root.RelayCompare = factory(root.RelayDecide, root.RelaySafeText)
})(typeof globalThis === 'object' ? globalThis : this, function (decideApi, safeText) {
  const { decide, parseRecipient, NOT_ALLOWED, NOT_HERE } = decideApi
  const { maskRoute } = safeText

  const RELEASE = '1.0.2'
  const THEM = 'haraka-plugin-relay 1.0.2'
  const INI = 'relay.ini'
  const ACL = 'relay_acl_allow'
  const DOMAINS = 'relay_dest_domains.ini'
  const FILE_ORDER = [INI, ACL, DOMAINS]
  const MAX_ITEMS = 1000 /* listed; the rest are counted */
  const LOCAL = 'someone' /* the local part of example recipients */
  const SHOWN_LINES = 10 /* lines named in one item; then a count */

  /* ---- haraka-config, as 1.0.2 gets its files ---------------------------
   * Lines end at CRLF, CR or LF; whitespace is JavaScript's \s.  A 'list'
   * keeps each line that is neither blank nor a comment (`;` or `#` first),
   * trimmed.  An 'ini' file: comments and blank lines skipped, `[name]`
   * starts a section (name trimmed; __proto__, constructor and prototype
   * go to a section that is thrown away), a line ending in `\` is joined
   * with the next, a parameter is `key[ = value]` with the value trimmed;
   * declared booleans are truth words, other values that look like
   * integers or decimals become numbers, `key[]` collects a list, and keys
   * named like the unsafe sections are ignored. */
  const LINE_BREAK = /\r\n|\r|\n/
  const COMMENT = /^\s*[;#].*$/
  const BLANK = /^\s*$/
  const SECTION = /^\s*\[([^\]]*)\]\s*$/
  const PARAM = /^\s*([\w@:._+\-/[\]]+)\s*(?:=\s*(.*?)\s*)?$/
  const CONTINUED = /\\[ \t]*$/
  const INTEGER = /^-?\d+$/
  const DECIMAL = /^-?\d+\.\d+$/
  const TRUTH = /^(?:true|yes|ok|enabled|on|1)$/i
  const LIST_KEY = /^(.+)\[\]$/
  const UNSAFE_NAMES = new Set(['__proto__', 'constructor', 'prototype'])
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k)

  function readList(text) {
    const out = []
    String(text).split(LINE_BREAK).forEach((row, i) => {
      if (!BLANK.test(row) && !COMMENT.test(row)) out.push({ line: i + 1, text: row.trim() })
    })
    return out
  }

  /* { sections, occurrences: [{ section, key, value, line }] }: sections as
   * haraka-config returns them; each parameter it applied, with the line
   * it starts on (a joined line: its first piece). */
  function readIni(text, booleans = []) {
    const fresh = () => Object.create(null)
    const sections = fresh()
    sections.main = fresh()
    const declared = new Set()
    for (const b of booleans) {
      declared.add(`${b.section}.${b.key}`)
      if (!own(sections, b.section)) sections[b.section] = fresh()
      sections[b.section][b.key] = b.default
    }
    const occurrences = []
    let name = 'main'
    let sect = sections.main
    let pre = ''
    let preLine = 0
    String(text).split(LINE_BREAK).forEach((row, i) => {
      if (COMMENT.test(row) || BLANK.test(row)) return
      const s = SECTION.exec(row)
      if (s) {
        name = s[1].trim()
        if (UNSAFE_NAMES.has(name)) sect = fresh()
        else {
          if (!own(sections, name)) sections[name] = fresh()
          sect = sections[name]
        }
        return
      }
      if (CONTINUED.test(row)) {
        if (!preLine) preLine = i + 1
        pre += row.replace(CONTINUED, '')
        return
      }
      const at = preLine || i + 1
      const p = PARAM.exec(pre + row)
      pre = ''
      preLine = 0
      if (!p) return
      const key = p[1]
      const raw = p[2]
      const list = LIST_KEY.test(key)
      const base = list ? key.replace('[]', '') : key
      if (UNSAFE_NAMES.has(base)) return
      let value
      if (declared.has(`${name}.${key}`)) {
        value = TRUTH.test(raw)
        sect[key] = value
      } else {
        value = INTEGER.test(raw) ? parseInt(raw, 10) : DECIMAL.test(raw) ? parseFloat(raw) : raw
        if (list) {
          if (!own(sect, base) || !Array.isArray(sect[base])) sect[base] = []
          sect[base].push(value)
        } else sect[key] = value
      }
      occurrences.push({ section: name, key: base, value, line: at })
    })
    return { sections, occurrences }
  }

  /* ---- addresses, as Node's net.isIP and ipaddr.js read them ------------ */
  const V4_PART = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])'
  const NODE_V4 = new RegExp(`^${V4_PART}(?:\\.${V4_PART}){3}$`)
  const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/

  const isIPv4 = (s) => NODE_V4.test(s)

  /* The eight 16-bit groups of an IPv6 address without zone (Node's
   * grammar: groups of 1-4 hex digits, at most one '::' standing for one
   * group or more, a dotted IPv4 address as the last two), or null. */
  function v6Groups(s) {
    const halves = s.split('::')
    if (halves.length > 2) return null
    const groupsOf = (t, last) => {
      if (t === '') return []
      const parts = t.split(':')
      const out = []
      for (let i = 0; i < parts.length; i++) {
        const g = parts[i]
        if (last && i === parts.length - 1 && g.includes('.')) {
          if (!isIPv4(g)) return null
          const b = g.split('.').map(Number)
          out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3])
        } else if (HEX_GROUP.test(g)) out.push(parseInt(g, 16))
        else return null
      }
      return out
    }
    if (halves.length === 1) {
      const g = groupsOf(s, true)
      return g && g.length === 8 ? g : null
    }
    const left = groupsOf(halves[0], false)
    const right = groupsOf(halves[1], true)
    if (!left || !right || left.length + right.length > 7) return null
    return [...left, ...Array(8 - left.length - right.length).fill(0), ...right]
  }

  /* net.isIPv6: the address, then an optional zone of [0-9A-Za-z.:-]. */
  function isIPv6(s) {
    const pct = s.indexOf('%')
    if (pct >= 0 && !/^%[0-9A-Za-z.:-]+$/.test(s.slice(pct))) return false
    return v6Groups(pct >= 0 ? s.slice(0, pct) : s) !== null
  }
  const isIP = (s) => isIPv4(s) || isIPv6(s)

  /* ipaddr.parse of a text that net.isIP takes: { kind, bytes }, or null
   * when ipaddr.js throws on it (a zone of other characters than [0-9a-z]).
   * ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`. */
  function ipaddrParse(s) {
    if (isIPv4(s)) return { kind: 'v4', bytes: s.split('.').map(Number) }
    const pct = s.indexOf('%')
    if (pct >= 0 && !/^[0-9a-z]+$/i.test(s.slice(pct + 1))) return null
    const addr = pct >= 0 ? s.slice(0, pct) : s
    const old = /^::(\d+\.\d+\.\d+\.\d+)$/.exec(addr)
    const groups = v6Groups(old ? `::ffff:${old[1]}` : addr)
    return groups ? { kind: 'v6', bytes: groups.flatMap((g) => [g >> 8, g & 255]) } : null
  }

  /* The first `len` bits of bytes, as a key. */
  function prefixKey(bytes, len) {
    const out = []
    for (let i = 0; i * 8 < len; i++) out.push(i * 8 + 8 <= len ? bytes[i] : bytes[i] & (0xff << (8 - (len - i * 8))) & 0xff)
    return out.join('.')
  }

  function isMapped(bytes) {
    return bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255
  }

  /* An address as a client would be written: IPv4 dotted, IPv4-mapped as
   * ::ffff:a.b.c.d, other IPv6 compressed (RFC 5952), never `::a.b.c.d`. */
  function formatBytes(bytes) {
    if (bytes.length === 4) return bytes.join('.')
    if (isMapped(bytes)) return `::ffff:${bytes.slice(12).join('.')}`
    const g = []
    for (let i = 0; i < 16; i += 2) g.push((bytes[i] << 8) | bytes[i + 1])
    let best = -1
    let bestLen = 1
    for (let i = 0; i < 8; ) {
      if (g[i] !== 0) {
        i++
        continue
      }
      let j = i
      while (j < 8 && g[j] === 0) j++
      if (j - i > bestLen) [best, bestLen] = [i, j - i]
      i = j
    }
    const hex = (list) => list.map((x) => x.toString(16)).join(':')
    return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
  }

  /* bytes with bits [from, to) set to `bit` */
  function withBits(bytes, from, to, bit) {
    const out = bytes.slice()
    for (let b = from; b < Math.min(to, out.length * 8); b++) {
      const m = 0x80 >> (b & 7)
      out[b >> 3] = bit ? out[b >> 3] | m : out[b >> 3] & ~m & 0xff
    }
    return out
  }

  const kindName = (kind) => (kind === 'v4' ? 'IPv4' : 'IPv6')
  const maxBits = (kind) => (kind === 'v4' ? 32 : 128)

  /* ---- haraka-plugin-relay 1.0.2 ----------------------------------------- */
  const BOOLEANS_102 = [
    { section: 'relay', key: 'acl', default: true },
    { section: 'relay', key: 'force_routing', default: true }, // its code; its manual says false
    { section: 'relay', key: 'all', default: false },
    { section: 'relay', key: 'dest_domains', default: false },
  ]
  const SWITCHES = ['acl', 'force_routing', 'dest_domains', 'all']

  /* load_acls, then is_acl_allowed: each line cut at '#' and trimmed; an
   * address that net.isIP refuses is dropped; a line without a prefix gets
   * /32 (IPv6 too); the mask is parseInt(prefix, 10) || 32 (|| 128 for IPv6,
   * which no bare line reaches).  ipaddr.js's match compares the first
   * `mask` bits: a mask above the address's size compares all of it, one
   * below 1 nothing (every address of that kind).  Entries are tried in
   * order, only against clients of their own kind (an IPv4-mapped client is
   * IPv6); an entry ipaddr.js cannot parse throws, and the connect_init hook
   * with it (Haraka logs it and the client does not relay). */
  function acl102(text) {
    const entries = []
    for (const { line, text: row } of readList(text)) {
      const entry = row.split('#')[0].trim()
      if (!entry) continue
      const cidr = entry.split('/')
      if (!isIP(cidr[0])) {
        entries.push({ line, entry, dropped: true })
        continue
      }
      const stored = cidr[1] ? entry : `${cidr[0]}/32`
      const [net, prefix] = stored.split('/')
      const kind = isIPv6(net) ? 'v6' : 'v4'
      const max = maxBits(kind)
      const mask = parseInt(prefix, 10) || (kind === 'v6' ? 128 : 32)
      const parsed = ipaddrParse(net)
      entries.push({ line, entry, stored, net, kind, mask, bits: mask <= 0 ? 0 : Math.min(mask, max), bytes: parsed && parsed.bytes, throws: !parsed })
    }
    // an index per kind: bits -> (prefix key -> first line), and the first
    // entry that throws
    const index = { v4: { byBits: new Map(), throwsAt: 0 }, v6: { byBits: new Map(), throwsAt: 0 } }
    for (const e of entries) {
      if (e.dropped) continue
      const ix = index[e.kind]
      if (e.throws) {
        if (!ix.throwsAt) ix.throwsAt = e.line
        continue
      }
      if (ix.throwsAt) continue // never reached: the check throws first
      if (!ix.byBits.has(e.bits)) ix.byBits.set(e.bits, new Map())
      const keys = ix.byBits.get(e.bits)
      const key = prefixKey(e.bytes, e.bits)
      if (!keys.has(key)) keys.set(key, e.line)
    }
    /* { relay, line, throwsAt }: whether the client relays, by which line */
    function match(ip) {
      const kind = isIPv4(ip) ? 'v4' : isIPv6(ip) ? 'v6' : null
      const client = kind && ipaddrParse(ip)
      if (!client) return { relay: false, line: 0, throwsAt: 0 }
      const ix = index[kind]
      let best = 0
      for (const [bits, keys] of ix.byBits) {
        const line = keys.get(prefixKey(client.bytes, bits))
        if (line && (!best || line < best)) best = line
      }
      if (best) return { relay: true, line: best, throwsAt: 0 }
      return { relay: false, line: 0, throwsAt: ix.throwsAt }
    }
    return { entries, match }
  }

  /* The dest_domains hook for a host, for a client that does not relay:
   * { rc: 'ok'|'cont'|'deny'|'throw', relay, message, why, error } */
  function dest102(domains, host) {
    if (!domains) return { rc: 'cont', relay: false, why: 'no-domains' }
    const value = domains[host]
    if (!value) return { rc: 'deny', relay: false, message: NOT_ALLOWED, why: 'unlisted' }
    let action
    try {
      ;({ action } = JSON.parse(value))
    } catch (err) {
      return { rc: 'throw', relay: false, why: 'throws', error: `${err.name}` }
    }
    switch (action) {
      case 'accept':
        return { rc: 'ok', relay: true, why: 'accept' }
      case 'continue':
        return { rc: 'cont', relay: true, why: 'continue' }
      case 'deny':
        return { rc: 'deny', relay: false, message: NOT_ALLOWED, why: 'deny' }
    }
    return { rc: 'deny', relay: false, message: NOT_HERE, why: 'no-action' }
  }

  /* 1.0.2's answers for one config. */
  function model102(texts) {
    const ini = readIni(texts[INI] ?? '', BOOLEANS_102)
    const relay = ini.sections.relay
    const settings = {}
    const set = {}
    const lines = {} // the line of relay.ini that set each switch last (0: its default)
    for (const k of SWITCHES) {
      settings[k] = !!relay[k]
      const at = ini.occurrences.filter((o) => o.section === 'relay' && o.key === k)
      set[k] = at.length > 0
      lines[k] = at.length ? at[at.length - 1].line : 0
    }
    // relay_acl_allow is read only with acl on; relay_dest_domains.ini
    // only with force_routing or dest_domains on (register())
    const acl = acl102(settings.acl ? texts[ACL] ?? '' : '')
    const dest = settings.force_routing || settings.dest_domains ? readIni(texts[DOMAINS] ?? '') : { sections: {}, occurrences: [] }
    const domains = dest.sections.domains
    const lastLine = new Map() // key -> the line of its last value (the one haraka-config keeps)
    for (const o of dest.occurrences) if (o.section === 'domains') lastLine.set(o.key, o.line)
    const keyLine = (key) => lastLine.get(key) || 0

    function client(ip) {
      if (!settings.acl) return { relay: false, line: 0, throwsAt: 0 }
      return acl.match(ip)
    }

    /* One transaction: the recipients in order, as Haraka and 1.0.2's rcpt
     * hooks (dest_domains, then all) answer them.  Each answer:
     * { address, domain, code, accepted, by, message, line, error } with by
     * 'acl', 'accept', 'continue', 'all', 'grant' (relaying set by an
     * earlier recipient of the transaction), 'deny', 'unlisted',
     * 'no-action', 'left' (no hook vouched: Haraka's 550) or 'haraka' (501). */
    function rcpts(ip, list) {
      const who = client(ip)
      let relaying = who.relay
      let grant = who.relay ? 'acl' : null
      return list.map((text) => {
        const p = parseRecipient(text)
        const out = { address: p.address, domain: p.domain, code: 550, accepted: false, by: 'left', message: '', line: 0, error: null }
        if (p.error) return Object.assign(out, { code: 501, by: 'haraka', message: p.error })
        let by = null
        if (settings.dest_domains && !relaying) {
          const r = dest102(domains, p.domain)
          out.line = keyLine(p.domain)
          if (r.rc === 'ok') {
            relaying = true
            grant = grant || 'grant'
            return Object.assign(out, { code: 250, accepted: true, by: 'accept' })
          }
          if (r.rc === 'deny') return Object.assign(out, { by: r.why, message: r.message })
          if (r.rc === 'throw') out.error = r.error
          if (r.relay) {
            relaying = true
            grant = grant || 'grant'
            by = 'continue'
          }
        }
        if (settings.all) {
          relaying = true
          return Object.assign(out, { code: 250, accepted: true, by: by === 'continue' ? 'continue' : 'all' })
        }
        if (relaying) return Object.assign(out, { code: 250, accepted: true, by: by || grant })
        return Object.assign(out, { message: `I cannot deliver mail for <${p.address}>` })
      })
    }

    /* get_mx: { route: 'mx'|'nexthop', nexthop, key, line, error } */
    function route(domain) {
      if (!settings.force_routing || !domains) return { route: 'mx' }
      let key = domain
      let value = domains[domain]
      if (!value) {
        key = 'any'
        value = domains.any
        if (!value) return { route: 'mx' }
      }
      let nexthop
      try {
        ;({ nexthop } = JSON.parse(value))
      } catch (err) {
        return { route: 'mx', key, line: keyLine(key), error: `${err.name}` }
      }
      if (!nexthop) return { route: 'mx', key, line: keyLine(key) }
      return { route: 'nexthop', nexthop, key, line: keyLine(key) }
    }

    return { settings, set, lines, acl, domains, occurrences: dest.occurrences, keyLine, client, rcpts, route }
  }

  /* ---- relay-wasm's answers ---------------------------------------------- */
  function wasmClient(core, ip) {
    const c = decide(core, { ip, rcpts: [] }).client
    return { relay: c.relay, line: c.relay ? c.line : 0 }
  }

  function wasmRcpts(core, ip, list) {
    return decide(core, { ip, rcpts: list }).recipients.map((r) => ({
      address: r.address,
      domain: r.domain,
      code: r.code,
      accepted: r.accepted,
      by: r.reason,
      message: r.accepted ? '' : r.message,
      line: r.line,
    }))
  }

  function wasmRoute(core, settings, domain) {
    if (!settings.force_routing) return { route: 'mx' }
    const r = core.route(domain)
    if (r.status === 'mx') return { route: 'mx' }
    if (r.status === 'nexthop') return { route: 'nexthop', nexthop: r.nexthop, key: r.key, line: r.line }
    return { route: 'deferred', key: r.key, line: r.line, why: r.why }
  }

  /* ---- words -------------------------------------------------------------- */
  const quote = (s) => `'${s}'`
  const hopText = (nexthop) => {
    const shown = maskRoute(nexthop)
    if (typeof shown === 'string') return shown
    if (Array.isArray(shown) && shown.every((h) => typeof h === 'string')) return shown.join(', ')
    return JSON.stringify(shown)
  }
  const plural = (n, word) => `${n} ${n === 1 ? word : /[^aeiou]y$/.test(word) ? `${word.slice(0, -1)}ies` : `${word}s`}`
  const lineList = (lines) => (lines.length > SHOWN_LINES ? `${lines.slice(0, SHOWN_LINES).join(', ')} and ${lines.length - SHOWN_LINES} more` : lines.join(', '))

  /* How far an answer accepts a recipient: 0 refused, 1 accepted by a
   * continue entry (a later rcpt plugin may still refuse it), 2 accepted. */
  function rankOf(a, settings) {
    if (!a.accepted) return 0
    return (a.by === 'continue' || a.by === 'dest-continue') && !settings.all ? 1 : 2
  }

  function answer102(a, settings) {
    if (a.code === 501) return `refuses it (501 ${a.message})`
    if (a.accepted) {
      if (a.by === 'grant') return 'accepts it (250: the transaction relays since the first recipient)'
      if (rankOf(a, settings) === 1) return 'accepts it by continue (250 unless a later rcpt plugin refuses it)'
      return 'accepts it (250)'
    }
    if (a.error) return `throws (${a.error} from JSON.parse, logged at CRIT) and leaves it to other rcpt plugins (550 "${a.message}" unless one accepts it)`
    if (a.by === 'left') return `leaves it to other rcpt plugins (550 "${a.message}" unless one accepts it)`
    return `refuses it (550 "${a.message}")`
  }

  function answerWasm(a, settings) {
    if (a.accepted) return rankOf(a, settings) === 1 ? 'accepts it by continue (250 unless a later rcpt plugin refuses it)' : 'accepts it (250)'
    if (a.by === 'not-relaying') return `leaves it to other rcpt plugins (550 "${a.message}" unless one accepts it)`
    return `refuses it (${a.code} "${a.message}")`
  }

  function routeText(r) {
    if (r.route === 'nexthop') return `goes to ${hopText(r.nexthop)}`
    if (r.route === 'deferred') return `is deferred (the route cannot be used: ${r.why})`
    if (r.error) return `goes by MX (get_mx throws a ${r.error} from JSON.parse, logged at CRIT)`
    return 'goes by MX'
  }

  const shownAnswer = (a) => ({
    address: a.address,
    code: a.code,
    accepted: a.accepted,
    by: a.by,
    ...(a.message ? { message: a.message } : {}),
    ...(a.line ? { line: a.line } : {}),
    ...(a.error ? { throws: a.error } : {}),
  })
  const shownRoute = (r) => ({ route: r.route, ...(r.nexthop !== undefined ? { nexthop: maskRoute(r.nexthop) } : {}), ...(r.key ? { key: r.key, line: r.line } : {}), ...(r.why ? { why: r.why } : {}), ...(r.error ? { throws: r.error } : {}) })

  /* ---- the comparison ------------------------------------------------------ */
  const STRANGERS = ['203.0.113.5', '198.51.100.77', '192.0.2.222', '203.0.113.250', '100.64.0.77', '2001:db8:ffff::5', '2001:db8::5']
  const OUTSIDERS = { v4: ['203.0.113.5', '198.51.100.7', '192.0.2.1', '8.8.8.8'], v6: ['2001:db8::5', '2001:db8:ffff::1', '2606:4700::1111'] }
  const UNLISTED = ['far.test', 'elsewhere.test', 'unlisted.example.net', 'victim.test']

  function compareWith102(core, texts) {
    const them = model102(texts)
    const ours = core.settings()
    const oursLines = core.settingLines()
    const errors = new Map() // "file:line" -> the first error relay-wasm reports there
    for (const d of core.diagnostics()) {
      const k = `${d.file}:${d.line}`
      if (d.severity === 'error' && !errors.has(k)) errors.set(k, d)
    }
    const items = []
    const groups = new Map()
    const groupLines = new Map() // group key -> Set of its lines
    const add = (item) => {
      items.push(item)
      return item
    }
    /* one item for many places (a cause that shows at many lines) */
    const addGroup = (key, line, make) => {
      const g = groups.get(key)
      if (g) {
        if (line && !groupLines.get(key).has(line)) {
          groupLines.get(key).add(line)
          g.lines.push(line)
        }
        return
      }
      const item = make()
      item.lines = line ? [line] : []
      groups.set(key, item)
      groupLines.set(key, new Set(item.lines))
      add(item)
    }
    const settingItem = (k) => `relay.ini sets ${k} to ${them.settings[k]} for 1.0.2 and to ${ours[k]} for relay-wasm (a line Haraka reads otherwise, see the diagnostics)`
    const settingLine = (k) => oursLines[k] || them.lines[k]

    /* -- relay_acl_allow -- */
    const aclDiffers = them.settings.acl !== ours.acl
    if (them.settings.acl || ours.acl) {
      const tried = new Set()
      const seen = new Set()
      const entryAt = new Map(them.acl.entries.map((e) => [e.line, e]))
      const lineText = new Map(readList(texts[ACL] ?? '').map((r) => [r.line, r.text.split('#')[0].trim()]))
      const probe = (ip, mappedClient) => {
        if (tried.has(ip)) return
        tried.add(ip)
        const t = them.client(ip)
        const o = wasmClient(core, ip)
        if (t.relay === o.relay) return
        const example = { client: ip }
        const answers = { haraka_plugin_relay: { relays: t.relay, line: t.line, ...(t.throwsAt ? { throws_at: t.throwsAt } : {}) }, relay_wasm: { relays: o.relay, line: o.line } }
        const direction = o.relay ? 'wider' : 'narrower'
        const yes = o.relay ? 'relay-wasm' : '1.0.2'
        const no = o.relay ? '1.0.2' : 'relay-wasm'
        const outcome = `client ${ip} relays with ${yes}${o.relay ? ` (line ${o.line})` : ` (line ${t.line})`}, not with ${no}`
        if (aclDiffers) {
          addGroup('setting-acl', 0, () => ({ file: INI, line: settingLine('acl'), direction, code: 'setting-acl', message: `${settingItem('acl')}: ${outcome}`, example, ...answers }))
          return
        }
        if (mappedClient && o.relay) {
          addGroup('acl-mapped-client', o.line, () => ({
            file: ACL,
            line: o.line,
            direction,
            code: 'acl-mapped-client',
            message: `a client that arrives as an IPv4-mapped IPv6 address (PROXY, XCLIENT) is matched against the IPv4 entries here; 1.0.2 never matched it against them: ${outcome}`,
            example,
            ...answers,
          }))
          return
        }
        const line = o.relay ? (t.throwsAt ? t.throwsAt : o.line) : t.line
        const key = `${line}:${direction}`
        if (seen.has(key)) return
        seen.add(key)
        const e = entryAt.get(line)
        const text = lineText.get(line) ?? ''
        let code
        let why
        if (o.relay && t.throwsAt) {
          code = 'acl-throws'
          why = `1.0.2's check throws on ${quote(text)} (ipaddr.js cannot read the zone id) for every IPv6 client that no earlier line holds, and such a client does not relay; relay-wasm ignores this line only`
        } else if (!o.relay && errors.has(`${ACL}:${line}`)) {
          const d = errors.get(`${ACL}:${line}`)
          code = 'acl-refused-line'
          why = `relay-wasm refuses ${quote(text)} [${d.code}]; 1.0.2 read it as ${block102(e)}`
        } else if (!o.relay && e && !e.entry.includes('/') && e.kind === 'v6') {
          code = 'acl-ipv6-bare'
          why = `${quote(text)} is one host here (/128); 1.0.2 appended /32: ${block102(e)}`
        } else if (o.relay && /\/0+$/.test(text)) {
          code = 'acl-zero-prefix'
          why = `${quote(text)} is every ${kindName(text.includes(':') ? 'v6' : 'v4')} address here; 1.0.2 read the /0 as ${e ? `/${e.mask}: ${block102(e)}` : 'nothing'}`
        } else if (o.relay && /^::ffff:[0-9.]+(?:\/|$)/i.test(text)) {
          code = 'acl-mapped-entry'
          why = `${quote(text)} is an IPv4 block here, for IPv4 clients too; 1.0.2 matched only IPv6 clients against it`
        } else {
          code = 'acl-read-otherwise'
          why = e && !e.dropped ? `1.0.2 read ${quote(text)} as ${block102(e)}` : `1.0.2 dropped ${quote(text)}`
        }
        add({ file: ACL, line, direction, code, message: `${why}: ${outcome}`, example, ...answers })
      }
      for (const { line, text } of readList(texts[ACL] ?? '')) {
        const entry = text.split('#')[0].trim()
        if (!entry) continue
        const [addrText, prefixText] = entry.split('/')
        // the address as written, without a zone id and without ipaddr.js's
        // reading of ::a.b.c.d
        const bare = addrText.split('%')[0]
        const groups = isIPv4(bare) ? null : v6Groups(bare)
        const a = isIPv4(bare) ? { kind: 'v4', bytes: bare.split('.').map(Number) } : groups ? { kind: 'v6', bytes: groups.flatMap((g) => [g >> 8, g & 255]) } : null
        if (!a) continue
        const e = entryAt.get(line)
        const max = a.bytes.length * 8
        const list = []
        const everything = prefixText !== undefined && /^0+$/.test(prefixText.trim())
        if (everything) {
          // a /0: addresses far from the one written
          for (const ip of OUTSIDERS[a.kind]) list.push(ipaddrParse(ip).bytes)
          list.push(withBits(a.bytes, 0, 1, a.bytes[0] & 0x80 ? 0 : 1))
        }
        if (e && !e.dropped && !e.throws) {
          if (e.bits < max) list.push(withBits(e.bytes, e.bits, e.bits + (max === 32 ? 8 : 16), 1))
          list.push(withBits(e.bytes, max - 1, max, e.bytes[e.bytes.length - 1] & 1 ? 0 : 1))
          list.push(e.bytes, withBits(e.bytes, e.bits, max, 1), withBits(e.bytes, e.bits, max, 0))
        }
        list.push(a.bytes, withBits(a.bytes, max - 1, max, a.bytes[a.bytes.length - 1] & 1 ? 0 : 1))
        for (const bytes of list) {
          probe(formatBytes(bytes), false)
          if (isMapped(bytes)) probe(bytes.slice(12).join('.'), false)
        }
        // the IPv4-mapped form of a host of the entry (not its network address)
        if (a.kind === 'v4') {
          const host = (everything ? ipaddrParse(OUTSIDERS.v4[0]).bytes : a.bytes[3] === 0 ? withBits(a.bytes, 31, 32, 1) : a.bytes).join('.')
          probe(`::ffff:${host}`, true)
          if (!everything) probe(`::ffff:${a.bytes.join('.')}`, true)
        }
      }
    }

    /* -- a client that relays in neither -- */
    let stranger = null
    for (let i = 0; !stranger && i < STRANGERS.length + 250; i++) {
      const ip = i < STRANGERS.length ? STRANGERS[i] : `203.0.${i - STRANGERS.length}.5`
      if (!them.client(ip).relay && !wasmClient(core, ip).relay) stranger = ip
    }

    /* -- the names of relay_dest_domains.ini -- */
    const occurrences = readIni(texts[DOMAINS] ?? '').occurrences.filter((o) => o.section === 'domains')
    const keyAt = new Map(occurrences.map((o) => [o.line, o.key]))
    const names = []
    const nameSeen = new Set()
    const addName = (name, suffixLine) => {
      if (nameSeen.has(name)) return
      const p = parseRecipient(`${LOCAL}@${name}`)
      if (p.error || p.domain !== name) return
      nameSeen.add(name)
      names.push({ name, suffixLine })
    }
    for (const o of occurrences) {
      const key = o.key.toLowerCase()
      if (!key.startsWith('.')) {
        addName(key, 0)
        continue
      }
      // a suffix key: the names relay-wasm says it covers now
      for (const label of ['a', 'mail', 'x9']) {
        const name = `${label}${key}`
        if (them.domains && them.domains[name]) continue
        const r = core.rcpt(name)
        if (r.line === o.line) {
          addName(name, o.line)
          const deeper = `b.${name}`
          if (core.rcpt(deeper).line === o.line) addName(deeper, o.line)
          break
        }
      }
    }
    let unlisted = null
    for (let i = 0; !unlisted && i < UNLISTED.length + 100; i++) {
      const name = i < UNLISTED.length ? UNLISTED[i] : `far${i}.test`
      if (!(them.domains && them.domains[name]) && core.rcpt(name).action === 'unlisted' && !parseRecipient(`${LOCAL}@${name}`).error) unlisted = name
    }

    const suffixCovers = new Map() // suffix line -> names
    for (const n of names) if (n.suffixLine) suffixCovers.set(n.suffixLine, [...(suffixCovers.get(n.suffixLine) || []), n.name])

    /* -- recipients, one a transaction, from the stranger -- */
    const rcptDiffers = them.settings.dest_domains !== ours.dest_domains || them.settings.all !== ours.all
    if (stranger && (them.settings.dest_domains || them.settings.all || ours.dest_domains || ours.all)) {
      // each listed name, and one that no entry lists
      for (const { name, suffixLine } of unlisted ? [...names, { name: unlisted, suffixLine: 0 }] : names) {
        const address = `${LOCAL}@${name}`
        const t = them.rcpts(stranger, [address])[0]
        const o = wasmRcpts(core, stranger, [address])[0]
        const tr = rankOf(t, them.settings)
        const or = rankOf(o, ours)
        if (tr === or && !t.error) continue
        const direction = or < tr || (or === tr && t.error) ? 'narrower' : 'wider'
        const example = { client: stranger, recipients: [address] }
        const answers = { haraka_plugin_relay: { recipients: [shownAnswer(t)] }, relay_wasm: { recipients: [shownAnswer(o)] } }
        const outcome = `${address} from ${stranger}: 1.0.2 ${answer102(t, them.settings)}; relay-wasm ${answerWasm(o, ours)}`
        if (rcptDiffers) {
          const k = them.settings.dest_domains !== ours.dest_domains ? 'dest_domains' : 'all'
          addGroup(`setting-${k}`, 0, () => ({ file: INI, line: settingLine(k), direction, code: `setting-${k}`, message: `${settingItem(k)}: ${outcome}`, example, ...answers }))
          continue
        }
        const decidingKey = keyAt.get(o.line) ?? ''
        const line = o.line || t.line || (occurrences.find((x) => x.key.toLowerCase() === name) || {}).line || 0
        let code
        let why
        const named = occurrences.filter((x) => x.key.toLowerCase() === name)
        if (t.error) {
          code = 'dest-json-throws'
          why = `1.0.2's JSON.parse throws at RCPT time on the value of ${quote(name)}; relay-wasm refused it when the file was loaded`
        } else if (name === unlisted) {
          code = them.domains ? 'dest-read-otherwise' : 'dest-no-section'
          why = them.domains
            ? `1.0.2 and relay-wasm answer a domain that relay_dest_domains.ini does not list otherwise`
            : `relay_dest_domains.ini has no [domains] section, so 1.0.2's dest_domains hook leaves every recipient to the next rcpt hook; relay-wasm refuses a domain it does not list`
        } else if (suffixLine && o.line === suffixLine) {
          code = 'key-suffix'
          const covers = suffixCovers.get(suffixLine)
          why = `${quote(decidingKey)} never matched in 1.0.2; relay-wasm reads it as every subdomain of ${decidingKey.slice(1)} (${covers.join(', ')}, ...)`
          addGroup(`key-suffix:${suffixLine}:${direction}`, 0, () => ({ file: DOMAINS, line: suffixLine, direction, code, message: `${why}: ${outcome}`, example, ...answers, covers }))
          continue
        } else if (decidingKey && decidingKey !== name && !(them.domains && them.domains[name])) {
          code = 'key-case'
          why = `${quote(decidingKey)} never matched in 1.0.2 (it looks up the lower-cased domain); relay-wasm matches keys in any case`
        } else {
          const d = errors.get(`${DOMAINS}:${o.line}`) || named.map((x) => errors.get(`${DOMAINS}:${x.line}`)).find(Boolean)
          if (d && d.code === 'dest-conflicting-key') {
            code = 'key-conflict'
            why = `${name} is named by ${plural(named.length, 'key')} with different meanings (line ${lineList(named.map((x) => x.line))}): relay-wasm takes the narrowest [${d.code}], 1.0.2 the value of the last key ${quote(name)}`
          } else if (d) {
            code = 'dest-refused-entry'
            why = `relay-wasm refuses the entry for ${name} [${d.code}] where 1.0.2 acted on it`
          } else {
            code = 'dest-read-otherwise'
            why = `1.0.2 and relay-wasm read the entry for ${name} otherwise`
          }
        }
        add({ file: DOMAINS, line, direction, code, message: `${why}: ${outcome}`, example, ...answers })
      }

      // the transaction rule: after one accept or continue recipient, 1.0.2
      // relays the whole transaction
      if (them.settings.dest_domains && unlisted && !rcptDiffers) {
        const grants = []
        for (const { name, suffixLine } of names) {
          if (suffixLine) continue
          const r = dest102(them.domains, name)
          if (r.relay) grants.push(name)
        }
        const firstOf = grants.find((name) => wasmRcpts(core, stranger, [`${LOCAL}@${name}`])[0].accepted) ?? grants[0]
        if (firstOf) {
          const list = [`${LOCAL}@${firstOf}`, `${LOCAL}@${unlisted}`]
          const t = them.rcpts(stranger, list)
          const o = wasmRcpts(core, stranger, list)
          if (t[1].accepted && !o[1].accepted) {
            const lines = grants.map((n) => them.keyLine(n)).filter(Boolean)
            add({
              file: DOMAINS,
              line: them.keyLine(firstOf),
              direction: 'narrower',
              code: 'transaction-grant',
              message: `with dest_domains=true, 1.0.2 lets a client that names a domain of an accept or continue entry (${plural(grants.length, 'entry')}: line ${lineList(lines)}) relay to anyone for the rest of that transaction; relay-wasm decides each recipient on its own: ${stranger} sends to ${list[0]}, then ${list[1]}: 1.0.2 ${answer102(t[0], them.settings)}, then ${answer102(t[1], them.settings)}; relay-wasm ${answerWasm(o[0], ours)}, then ${answerWasm(o[1], ours)}`,
              example: { client: stranger, recipients: list },
              haraka_plugin_relay: { recipients: t.map(shownAnswer) },
              relay_wasm: { recipients: o.map(shownAnswer) },
              lines,
            })
          }
        }
      }
    }

    /* -- routes -- */
    if (them.settings.force_routing || ours.force_routing) {
      const routeNames = names.map((n) => n.name)
      if (unlisted) routeNames.push(unlisted)
      const differs = them.settings.force_routing !== ours.force_routing
      const routes = []
      for (const name of routeNames) {
        const t = them.route(name)
        const o = wasmRoute(core, ours, name)
        const same = t.route === o.route && JSON.stringify(t.nexthop) === JSON.stringify(o.nexthop)
        if (same) continue
        const domain = name
        const address = `${LOCAL}@${domain}`
        const example = { recipients: [address], domain }
        const answers = { haraka_plugin_relay: shownRoute(t), relay_wasm: shownRoute(o) }
        const outcome = `mail for ${address} ${routeText(t)} with 1.0.2, ${routeText(o)} with relay-wasm`
        if (differs) {
          // the switch decides: one item, naming each entry whose route is no
          // longer (or now) used
          const by = t.route !== 'mx' ? t : o
          if (by.key && !routes.some((r) => r.key === by.key)) routes.push({ key: by.key, line: by.line, nexthop: maskRoute(by.nexthop), example: address, answers, outcome })
          continue
        }
        const suffix = names.find((n) => n.name === name)?.suffixLine
        const decidingKey = o.line ? keyAt.get(o.line) ?? '' : ''
        const line = o.line || t.line || 0
        let code
        let why
        if (t.error) {
          code = 'dest-json-throws'
          why = `1.0.2's JSON.parse throws at delivery (get_mx) on the value of ${quote(t.key)}; relay-wasm refused it when the file was loaded`
        } else if (suffix && o.line === suffix) {
          const covers = suffixCovers.get(suffix)
          why = `${quote(decidingKey)} never matched in 1.0.2; relay-wasm routes every subdomain of ${decidingKey.slice(1)} (${covers.join(', ')}, ...) by it`
          addGroup(`route-suffix:${suffix}`, 0, () => ({ file: DOMAINS, line: suffix, direction: 'route', code: 'key-suffix', message: `${why}: ${outcome}`, example, ...answers, covers }))
          continue
        } else if (decidingKey && decidingKey !== name && decidingKey !== 'any' && !(them.domains && them.domains[name])) {
          code = 'key-case'
          why = `${quote(decidingKey)} never matched in 1.0.2 (it looks up the lower-cased domain); relay-wasm matches keys in any case`
        } else if (o.route === 'deferred') {
          code = 'route-deferred'
          why = `relay-wasm cannot use the route of ${quote(o.key)} and defers its mail; 1.0.2 handed outbound what the file says`
        } else {
          code = 'route-read-otherwise'
          why = `1.0.2 and relay-wasm read the route of ${domain} otherwise`
        }
        add({ file: DOMAINS, line, direction: 'route', code, message: `${why}: ${outcome}`, example, ...answers })
      }
      if (differs && routes.length) {
        const first = routes[0]
        const unset = !them.set.force_routing
        const list = routes.map((r) => (r.key === 'any' ? `every domain without an entry (any, line ${r.line})` : `${r.key} (line ${r.line})`))
        add({
          file: INI,
          line: unset ? 0 : settingLine('force_routing'),
          direction: 'route',
          code: unset ? 'force-routing-default' : 'setting-force_routing',
          message: `${
            unset
              ? "force_routing is not set in relay.ini: 1.0.2's code defaults it to true, relay-wasm to false (the manual's default), so the nexthops of relay_dest_domains.ini are no longer used"
              : settingItem('force_routing')
          }: ${first.outcome}; the entries whose nexthop ${them.settings.force_routing ? '1.0.2 used' : 'relay-wasm uses'}: ${list.length > SHOWN_LINES ? `${list.slice(0, SHOWN_LINES).join(', ')} and ${list.length - SHOWN_LINES} more` : list.join(', ')}`,
          example: { recipients: [first.example], domain: first.example.split('@')[1] },
          ...first.answers,
          routes: routes.map((r) => ({ key: r.key, line: r.line, nexthop: r.nexthop })),
        })
      }
    }

    for (const g of groups.values()) {
      if (g.code === 'acl-mapped-client' && g.lines.length > 1) {
        g.message = g.message.replace('the IPv4 entries here', `the IPv4 entries here (${plural(g.lines.length, 'line')}: ${lineList(g.lines)})`)
      }
    }
    const order = (f) => FILE_ORDER.indexOf(f)
    const sorted = items.map((it, i) => [it, i]).sort((a, b) => order(a[0].file) - order(b[0].file) || a[0].line - b[0].line || a[1] - b[1])
    const all = sorted.map(([it]) => it)
    const count = (d) => all.filter((it) => it.direction === d).length
    return { items: all.slice(0, MAX_ITEMS), total: all.length, narrower: count('narrower'), wider: count('wider'), route: count('route'), shown: Math.min(all.length, MAX_ITEMS) }
  }

  /* What 1.0.2 made of an ACL line, in words. */
  function block102(e) {
    if (!e || e.dropped) return 'nothing (net.isIP refuses it)'
    if (e.throws) return 'an address ipaddr.js cannot read'
    const max = maxBits(e.kind)
    if (e.bits === 0) return `every ${kindName(e.kind)} address (a mask of ${e.mask} compares no bit)`
    const net = formatBytes(withBits(e.bytes, e.bits, max, 0))
    const size = e.bits === max ? 'one host' : `2^${max - e.bits} addresses`
    return `${net}/${e.bits} (${size}${e.mask > max ? `: a mask of ${e.mask} compares all ${max} bits` : ''})`
  }

  /* ---- what relay-check prints ------------------------------------------- */
  function itemLine(it, shown) {
    return `${shown(it.file)}:${it.line ? `${it.line}:` : ''} ${it.direction}: ${it.message} [${it.code}]`
  }

  function summary(report, where) {
    if (!report.total) return `compared with ${THEM}: no differences in ${where}`
    const parts = ['narrower', 'wider', 'route'].filter((d) => report[d]).map((d) => `${report[d]} ${d}`)
    const more = report.total > report.shown ? ` (${report.total - report.shown} not listed)` : ''
    return `compared with ${THEM}: ${plural(report.total, 'difference')} (${parts.join(', ')}) in ${where}${more}`
  }

  function textLines(report, shown, where) {
    return [...report.items.map((it) => itemLine(it, shown)), summary(report, where)]
  }

  /* [kind, props, data] for js/safe-text.js githubCommand: wider and route
   * as warnings, narrower as notices. */
  function annotations(report, shown) {
    return report.items.map((it) => [
      it.direction === 'narrower' ? 'notice' : 'warning',
      [['file', shown(it.file)], ...(it.line ? [['line', it.line]] : []), ['title', `relay-check ${RELEASE} ${it.direction} ${it.code}`]],
      `${it.direction}: ${it.message} [${it.code}]`,
    ])
  }

  function jsonReport(report, shown) {
    return {
      with: THEM,
      differences: report.total,
      narrower: report.narrower,
      wider: report.wider,
      route: report.route,
      ...(report.total > report.shown ? { not_listed: report.total - report.shown } : {}),
      items: report.items.map((it) => ({ path: shown(it.file), ...it })),
    }
  }

  return { compareWith102, model102, textLines, annotations, jsonReport, summary, RELEASE, internals: { readIni, readList, isIP, isIPv4, isIPv6, ipaddrParse, formatBytes, acl102, dest102 } }
})
