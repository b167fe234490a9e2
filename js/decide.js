/*
 * decide.js - what relay-wasm answers a client, explained.
 *
 * For: the plugin (index.js), the CLI (js/cli.js) and the validator page
 * (web/validator.js).  Pure: it asks a RelayCore (js/wasm-module.js) and
 * returns plain objects; no I/O, no globals.  The rcpt rule is written once
 * here (rcptRule, with its words in explainRule): the plugin's rcpt hook
 * carries it out, relay-check and the page explain with it.  The rules:
 *
 *  - RCPT TO is read as Haraka reads it (parseRecipient): an address its
 *    parser refuses is answered 501 before any hook runs; the domain the
 *    hooks get is lower-cased and UTS-46 mapped (BÜCHER.example ->
 *    xn--bcher-kva.example).  The client address is taken as given, as
 *    Haraka hands connection.remote.ip to the plugin (not trimmed).
 *  - connect: with acl=true a client listed in relay_acl_allow relays; SMTP
 *    AUTH relays too.  Relaying from either covers every recipient, and
 *    dest_domains then skips (any entry, deny included, is not consulted).
 *  - rcpt, hook dest_domains (runs first), for a client that does not relay:
 *    accept -> 250; continue -> relaying for this recipient (250, unless a
 *    later rcpt plugin refuses it; all=true answers OK right after);
 *    deny or unlisted -> 550 "You are not allowed to relay"; an entry with
 *    no action or one that cannot be read -> 550 "Mail for that recipient is
 *    not accepted here."  A grant covers its own recipient only.
 *  - rcpt, hook all (runs after): with dest_domains=false, all=true -> 250;
 *    otherwise no plugin vouched and Haraka answers 550 "I cannot deliver
 *    mail for <address>".
 *  - the entry of a domain is its own key, else the longest subdomain key
 *    over it (`.example.com` covers every name under example.com, not
 *    example.com itself); the module finds it, and names the key when
 *    asked (rcptKey), which relay-check and the page show.
 *  - get_mx (outbound, for accepted recipients): with force_routing=true a
 *    domain with an entry goes to its nexthop, or by MX when it gives none;
 *    a domain without an entry to the nexthop of `any`, else by MX (as in
 *    1.0.2).  A route that cannot be read defers the mail (the recipient is
 *    still answered by the entry's action).  The route is handed to
 *    outbound as outboundRoute() makes it.
 */
'use strict'
;(function (root, factory) {
  const api = factory()
  if (typeof module === 'object' && module.exports) module.exports = api
  else root.RelayDecide = api
})(typeof globalThis === 'object' ? globalThis : this, function () {
  const NOT_ALLOWED = 'You are not allowed to relay'
  const NOT_HERE = 'Mail for that recipient is not accepted here.'
  const ACL_FILE = 'relay_acl_allow'
  const DOMAINS_FILE = 'relay_dest_domains.ini'
  const INI_FILE = 'relay.ini'

  /* The answer of the dest_domains hook for a relay_dest_domains.ini action,
   * for a client that does not relay otherwise:
   *   rc 'ok' (accept), 'cont' (continue) or 'deny'; relay: whether the hook
   *   sets relaying for this recipient; message: the text of a DENY. */
  function destDomainsAnswer(action) {
    switch (action) {
      case 'accept':
        return { rc: 'ok', relay: true, message: null }
      case 'continue':
        return { rc: 'cont', relay: true, message: null }
      case 'unlisted':
      case 'deny':
        return { rc: 'deny', relay: false, message: NOT_ALLOWED }
      default: // noaction, invalid, anything newer
        return { rc: 'deny', relay: false, message: NOT_HERE }
    }
  }

  /* ---- the recipient as Haraka 3.3 reads RCPT TO ----------------------
   * Haraka parses the argument of RCPT TO with haraka-utils' rfc1869 and
   * @haraka/email-address (postel off, its default), and refuses with 501
   * what they refuse, before any rcpt hook runs.  The plugin is handed the
   * domain lower-cased and, when it holds non-ASCII characters, mapped to
   * ASCII by UTS-46 (url.domainToASCII): BÜCHER.example is
   * xn--bcher-kva.example, ｇｏｏｄ.example and good。example are
   * good.example.  The same grammar here, written for this file. */

  const ATEXT = /[0-9A-Za-z!#$%&'*+\-/=?^_`{|}~\u{80}-\u{10FFFF}]+/uy
  const LABEL = /[0-9A-Za-z\u{80}-\u{10FFFF}](?:[-0-9A-Za-z\u{80}-\u{10FFFF}]*[0-9A-Za-z\u{80}-\u{10FFFF}])?/uy
  const QTEXT = /[\x20-\x21\x23-\x5b\x5d-\x7e\u{80}-\u{10FFFF}]+/uy
  const QPAIR = /\\[\x20-\x7e]/y
  const NON_ASCII = /[^\x00-\x7f]/
  const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
  const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)
  const TAG = /^[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?$/
  const DCONTENT = /^[\x21-\x5a\x5e-\x7e]+$/
  const HEX4 = /^[0-9A-Fa-f]{1,4}$/

  /* UTF-8 length of a JS string (a lone surrogate counts 3, as in Buffer.byteLength) */
  function utf8Length(s) {
    let n = 0
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x80) n += 1
      else if (c < 0x800) n += 2
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        n += 4
        i++
      } else n += 3
    }
    return n
  }

  class AddressError extends Error {}

  /* A cursor over the path; every refusal carries Haraka's words. */
  function reader(input) {
    const r = {
      pos: 0,
      peek: () => input[r.pos],
      fail(what, at = r.pos) {
        throw new AddressError(`Invalid RFC-5321 address at position ${at}: ${what}`)
      },
      expect(ch) {
        if (input[r.pos] !== ch) r.fail(`expected ${JSON.stringify(ch)}`)
        r.pos++
      },
      take(re) {
        re.lastIndex = r.pos
        const m = re.exec(input)
        if (m) r.pos = re.lastIndex
        return m ? m[0] : null
      },
    }
    return r
  }

  function readDomain(r, input) {
    const start = r.pos
    for (;;) {
      const from = r.pos
      if (r.take(LABEL) === null) r.fail('expected sub-domain')
      if (utf8Length(input.slice(from, r.pos)) > 63) r.fail('sub-domain label exceeds 63 octets')
      if (r.peek() !== '.') return input.slice(start, r.pos)
      r.pos++
    }
  }

  function ipv6Literal(s) {
    const first = s.indexOf('::')
    if (first !== -1 && s.indexOf('::', first + 2) !== -1) return false
    let body = s
    const dot = s.indexOf('.')
    if (dot !== -1) {
      const sep = s.lastIndexOf(':', dot)
      if (sep === -1 || !IPV4.test(s.slice(sep + 1))) return false
      body = `${s.slice(0, sep + 1)}0:0`
    }
    const dc = body.indexOf('::')
    const groups = (t) => (t === '' ? [] : t.split(':'))
    if (dc === -1) {
      const g = body.split(':')
      return g.length === 8 && g.every((x) => HEX4.test(x))
    }
    const g = [...groups(body.slice(0, dc)), ...groups(body.slice(dc + 2))]
    return g.every((x) => HEX4.test(x)) && g.length <= 6
  }

  function literalBody(body) {
    if (IPV4.test(body)) return true
    const colon = body.indexOf(':')
    if (colon < 1) return false
    const tag = body.slice(0, colon)
    const content = body.slice(colon + 1)
    if (!TAG.test(tag) || !DCONTENT.test(content)) return false
    return tag.toLowerCase() === 'ipv6' ? ipv6Literal(content) : true
  }

  function readLiteral(r, input) {
    const start = r.pos
    r.expect('[')
    while (r.pos < input.length && r.peek() !== ']') {
      const c = r.peek()
      const code = c.charCodeAt(0)
      if (c === '[' || c === '\\' || code < 0x21 || code > 0x7e) r.fail('invalid character in address literal')
      r.pos++
    }
    if (r.peek() !== ']') r.fail('unterminated address literal')
    const body = input.slice(start + 1, r.pos)
    r.pos++
    if (!literalBody(body)) r.fail('invalid address literal', start)
    return input.slice(start, r.pos)
  }

  function readLocal(r, input) {
    const start = r.pos
    if (r.peek() === '"') {
      r.pos++
      for (;;) {
        if (r.pos >= input.length) r.fail('unterminated quoted-string')
        const c = r.peek()
        if (c === '"') {
          r.pos++
          return input.slice(start, r.pos)
        }
        if (c === '\\') {
          if (r.take(QPAIR) === null) r.fail('invalid quoted-pair')
        } else if (r.take(QTEXT) === null) r.fail('invalid character in quoted-string')
      }
    }
    if (r.take(ATEXT) === null) r.fail('expected atom in local-part')
    while (r.peek() === '.') {
      r.pos++
      if (r.take(ATEXT) === null) r.fail('expected atom after "."')
    }
    return input.slice(start, r.pos)
  }

  function readMailbox(r, input) {
    const local = readLocal(r, input)
    r.expect('@')
    const domain = r.peek() === '[' ? readLiteral(r, input) : readDomain(r, input)
    return { local, domain }
  }

  /* The UTS-46 mapping of a domain that holds non-ASCII characters, as
   * url.domainToASCII gives it ('' when it is no valid IDN): Node's own
   * function where there is one, else the URL parser of the browser (the
   * same WHATWG host parser).  The grammar above lets through letters,
   * digits, '-', '.' and non-ASCII characters only, so nothing in the
   * domain can end the host part of the URL early. */
  let nodeDomainToASCII = null
  try {
    if (typeof module === 'object' && typeof require === 'function') nodeDomainToASCII = require('node:url').domainToASCII
  } catch {
    nodeDomainToASCII = null
  }
  function domainToASCII(domain) {
    if (nodeDomainToASCII) return nodeDomainToASCII(domain)
    try {
      return new URL(`http://${domain}/`).hostname
    } catch {
      return ''
    }
  }

  /* Haraka's reading of the argument of RCPT TO (an address with or
   * without <>): { address, local, domain, error }.  address is how Haraka
   * writes it back (user@host as given, without <>), domain the host the
   * rcpt hooks get ('' for none); error is null or the text of Haraka's 501. */
  function parseRecipient(text) {
    let s = String(text == null ? '' : text).trim()
    const given = s.startsWith('<') && s.endsWith('>') ? s.slice(1, -1) : s
    const out = { address: given, local: given, domain: '', error: null }
    // rfc1869: extension parameters are peeled off the end; a bare address
    // with an @ is put in <>
    for (let m; (m = /\s(\S+)$/.exec(s)) && /^[A-Za-z0-9][A-Za-z0-9-]*(?:=[^= \x00-\x1f]+)?$/.test(m[1]); ) s = s.slice(0, m.index).trimEnd()
    if (/\s/.test(s) && !/^<.*>$/.test(s)) {
      out.error = 'Command parsing failed'
      return out
    }
    if (s.includes('@') && !/^<.*>$/.test(s)) s = `<${s}>`
    try {
      if (s === '' || s === '<>') return Object.assign(out, { address: '', local: '' })
      const bytes = utf8Length(s)
      if (bytes > 256) throw new AddressError(`RFC-5321 path exceeds 256 octets (${bytes} given)`)
      if (s.toLowerCase() === 'postmaster' || s.toLowerCase() === '<postmaster>') return Object.assign(out, { address: 'postmaster', local: 'postmaster' })
      const r = reader(s)
      let box
      if (r.peek() === '<') {
        r.pos++
        if (r.peek() === '@') {
          do {
            r.expect('@')
            readDomain(r, s)
          } while (r.peek() === ',' && ++r.pos)
          if (r.peek() !== ':') r.fail('expected ":" after source route')
          r.pos++
        }
        box = readMailbox(r, s)
        r.expect('>')
      } else box = readMailbox(r, s)
      if (r.pos < s.length) r.fail('trailing input after address')
      if (utf8Length(box.local) > 64) throw new AddressError('RFC-5321 local-part exceeds 64 octets')
      let host = box.domain
      if (NON_ASCII.test(host)) {
        host = domainToASCII(host)
        if (!host) throw new AddressError('invalid IDN domain')
      }
      return Object.assign(out, { address: `${box.local}@${box.domain}`, local: box.local, domain: host.toLowerCase() })
    } catch (err) {
      if (!(err instanceof AddressError)) throw err
      // utils.sanitize: control characters are left out of the reply
      out.error = `Invalid RCPT TO address ${s.replace(/[\x00-\x1f\x7f]/g, '')}: ${err.message}`
      return out
    }
  }

  /* Splits a recipients field (lines, commas, blanks) into addresses. */
  function splitRecipients(text) {
    return String(text == null ? '' : text)
      .split(/[\s,;]+/)
      .filter((s) => s.length > 0)
  }

  /* Is `ip` an address the ACL can hold?  The module's own parser says,
   * whatever relay_acl_allow holds (aclAnswer, js/wasm-module.js). */
  function isIpAddress(core, ip) {
    if (typeof ip !== 'string' || ip === '') return false
    return core.aclAnswer(ip).address
  }

  /* The line of relay.ini that set `all` as it stands (0: its default). */
  function allLine(core) {
    return core.settingLines().all
  }

  /* The address relay_acl_allow is asked about (the plugin's rule too):
   * an IPv6 address without its zone id (fe80::1%eth0, as Haraka hands
   * link-local peers and PROXY lines); anything else as it is. */
  function aclAddress(ip) {
    const s = String(ip == null ? '' : ip)
    const pct = s.indexOf('%')
    return pct > 0 && s.includes(':') ? s.slice(0, pct) : s
  }

  function decideClient(core, settings, ip, auth) {
    // one question to the module: is it an address, and which line holds it
    const answer = ip ? core.aclAnswer(aclAddress(ip)) : { address: false, line: 0 }
    const valid = answer.address
    const client = { ip, auth, valid, relay: false, why: 'none', file: null, line: 0, explain: '' }
    const hit = settings.acl && answer.line > 0 ? { line: answer.line } : null
    if (hit) {
      Object.assign(client, { relay: true, why: 'acl', file: ACL_FILE, line: hit.line })
      client.explain = `${ACL_FILE} line ${hit.line} lists ${ip}: the client may relay to any domain`
      return client
    }
    const acl = !ip
      ? 'no client address is given'
      : !valid
        ? `'${ip}' is not an IP address, so no ${ACL_FILE} entry holds it`
        : settings.acl
          ? `${ip} is not in ${ACL_FILE}`
          : `acl=false in ${INI_FILE}, so ${ACL_FILE} is not consulted`
    if (auth) {
      Object.assign(client, { relay: true, why: 'auth' })
      client.explain = `${acl}, but the client is authenticated (SMTP AUTH): it may relay to any domain`
      return client
    }
    let then
    if (settings.dest_domains) then = `each recipient is decided by ${DOMAINS_FILE} (dest_domains=true)`
    else if (settings.all) then = `all=true in ${INI_FILE} accepts every recipient: an open relay`
    else then = 'this plugin accepts no recipient for it (dest_domains=false, all=false)'
    client.explain = `${acl} and the client is not authenticated: ${then}`
    return client
  }

  /* What the plugin hands outbound (the get_mx hook) for a route: a nexthop
   * text or an array of them.  Outbound reads a URL with new URL(), whose
   * hostname keeps the brackets of an IPv6 address ("[::1]"), an address
   * it cannot connect to ("Tried all MXs"); such an element is handed on as
   * an object, read as HarakaMx.fromUrl reads the URL but with the address
   * bare.  Every URL is handed on so (Haraka 2.8's outbound reads a text
   * as host[:port] only, and takes `smtp://h:p` for a host named
   * `smtp://h`; an object, read field by field, works in every release,
   * and Haraka 3 reads the URL into the very same fields).  Every other
   * element (host, host:port, [IPv6]:port) is handed on as written. */
  /* A URL with a password is handed on as an object too, its auth_pass not
   * enumerable: Haraka logs what get_mx answers (a string as it is, an
   * object through JSON.stringify or a spread copy), and the password must
   * not reach its log.  Outbound reads the property all the same. */
  function outboundHop(hop) {
    if (typeof hop !== 'string' || !/^[sl]mtp:\/\//.test(hop)) return hop
    let url
    try {
      url = new URL(hop)
    } catch {
      return hop
    }
    const bracketed = url.hostname.startsWith('[')
    const mx = { exchange: (bracketed ? url.hostname.slice(1, -1) : url.hostname).toLowerCase() }
    if (url.port) mx.port = parseInt(url.port, 10)
    if (url.protocol === 'lmtp:') mx.using_lmtp = true
    if (url.username) mx.auth_user = url.username
    if (url.password) Object.defineProperty(mx, 'auth_pass', { value: url.password, enumerable: false })
    return mx
  }

  function outboundRoute(nexthop) {
    return Array.isArray(nexthop) ? nexthop.map(outboundHop) : outboundHop(nexthop)
  }

  /* The same, to be shown: a password in an object as *** (one in a URL
   * text is masked where the text is printed, js/safe-text.js). */
  function shownOutbound(nexthop) {
    const hide = (mx) => (mx && typeof mx === 'object' && mx.auth_pass !== undefined ? { ...mx, auth_pass: '***' } : mx)
    const out = outboundRoute(nexthop)
    return Array.isArray(out) ? out.map(hide) : hide(out)
  }

  function decideRoute(core, settings, domain) {
    if (!settings.force_routing) {
      return { status: 'mx', explain: `MX lookup for ${domain || 'the domain'} (force_routing=false)` }
    }
    const r = core.route(domain)
    if (r.status === 'mx') {
      // `any` is for the domains without an entry, as in 1.0.2
      const own = entryOf(core, domain)
      const named = own.key && own.key !== domain ? ` ${own.key}` : '' // a subdomain key
      const why =
        own.action === 'unlisted'
          ? 'it has no entry and no `any` entry gives a nexthop'
          : `its entry${named} (${DOMAINS_FILE} line ${own.line}) gives no nexthop, and \`any\` routes only domains without an entry`
      return { status: 'mx', explain: `MX lookup for ${domain || 'the domain'}: ${why}` }
    }
    const where = `entry ${r.key}, ${DOMAINS_FILE} line ${r.line}`
    if (r.status === 'nexthop') {
      const hop = Array.isArray(r.nexthop) ? r.nexthop.join(', ') : r.nexthop
      return {
        status: 'nexthop',
        nexthop: r.nexthop,
        outbound: shownOutbound(r.nexthop),
        key: r.key,
        file: DOMAINS_FILE,
        line: r.line,
        explain: `nexthop ${hop} (${where})`,
      }
    }
    return {
      status: 'invalid',
      key: r.key,
      file: DOMAINS_FILE,
      line: r.line,
      why: r.why,
      explain: `deferred: the route of the ${where} cannot be used (${r.why}), so outbound keeps the mail queued (temporary failure)`,
    }
  }

  /* ---- the rcpt rule --------------------------------------------------
   * What relay-wasm's rcpt hook does with one recipient: the one place this
   * rule is written, for the plugin (index.js, whose hooks only carry it
   * out), relay-check and the page (decideRecipient, below).
   *   settings: { dest_domains, all }, relay.ini in force
   *   relaying: the client relays already (relay_acl_allow, SMTP AUTH or
   *     another plugin): every recipient is Haraka's to accept
   *   entry(): { action, line, key? }, the relay_dest_domains.ini entry of
   *     the recipient's domain (key: which key it is, when the caller
   *     asked, see entryOf); called only when dest_domains decides
   * -> { hook, grant, code, by, action, line, message } (and key, null
   *    when entry() did not give it, when by is 'dest')
   *   hook: the hook's answer to Haraka: 'ok' (250 now), 'cont' (the rest
   *     of Haraka decides: 250 when relaying is set, else 550 unless another
   *     plugin vouches), 'deny' (550 `message`)
   *   grant: 'recipient' this plugin vouched for it; 'flagged' it did, and
   *     sets connection.relaying until the recipient is answered (continue:
   *     Haraka's final CONT becomes 250 only then); 'none'
   *   code: what the client is answered when no other plugin changes it
   *   by: 'relaying' | 'dest' | 'all' | 'none' (what decided) */
  function rcptRule(settings, relaying, entry) {
    if (relaying) return { hook: settings.all ? 'ok' : 'cont', grant: 'none', code: 250, by: 'relaying', action: null, line: 0, message: '' }
    if (settings.dest_domains) {
      const { action, line, key = null } = entry()
      const answer = destDomainsAnswer(action)
      if (answer.rc === 'ok') return { hook: 'ok', grant: 'recipient', code: 250, by: 'dest', action, line, key, message: '' }
      if (answer.rc === 'cont') return { hook: settings.all ? 'ok' : 'cont', grant: 'flagged', code: 250, by: 'dest', action, line, key, message: '' }
      return { hook: 'deny', grant: 'none', code: 550, by: 'dest', action, line, key, message: answer.message }
    }
    if (settings.all) return { hook: 'ok', grant: 'recipient', code: 250, by: 'all', action: null, line: 0, message: '' }
    return { hook: 'cont', grant: 'none', code: 550, by: 'none', action: null, line: 0, message: '' }
  }

  /* Why: the rule's outcome in the words relay-check uses, for relay-check,
   * the page and the plugin's log (one line per recipient).
   *   rule: rcptRule's answer; domain: the recipient's domain (may be '')
   *   client: { why: 'acl'|'auth'|'other'|'none', line } (what relays it)
   *   allAt: the relay.ini line of all=true (0: unknown)
   * -> { reason, file, line, explain } */
  function explainRule(rule, domain, client, allAt) {
    // a subdomain key (.example.com) is named: it is not the domain itself
    const entry = `${DOMAINS_FILE} line ${rule.line}${rule.key && rule.key !== domain ? ` (${rule.key})` : ''}`
    switch (rule.by) {
      case 'relaying': {
        const acl = client.why === 'acl'
        const by = acl ? `${ACL_FILE} line ${client.line}` : client.why === 'auth' ? 'SMTP AUTH' : 'another plugin'
        return {
          reason: acl ? 'relay-acl' : client.why === 'auth' ? 'relay-auth' : 'relay-other',
          file: acl ? ACL_FILE : null,
          line: acl ? client.line : 0,
          explain: `the client relays (${by}), so every recipient is accepted; ${DOMAINS_FILE} is not consulted`,
        }
      }
      case 'dest': {
        const out = { reason: `dest-${rule.action}`, file: rule.line ? DOMAINS_FILE : null, line: rule.line, explain: '' }
        if (rule.action === 'accept') out.explain = `${entry} says accept for ${domain}: accepted and relayed (this recipient only)`
        else if (rule.action === 'continue')
          out.explain = rule.hook === 'ok'
            ? `${entry} says continue for ${domain}: relaying for this recipient, and all=true accepts it`
            : `${entry} says continue for ${domain}: relaying for this recipient, so it is accepted unless a later rcpt plugin refuses it`
        else if (rule.action === 'unlisted') out.explain = domain ? `${domain} is not listed in ${DOMAINS_FILE}` : `the address has no domain, so no ${DOMAINS_FILE} entry applies`
        else if (rule.action === 'deny') out.explain = `${entry} says deny for ${domain}`
        else if (rule.action === 'noaction') out.explain = `${entry} gives ${domain} no action (a route only)`
        else out.explain = `${entry}, the entry for ${domain}, cannot be read, so its recipients are refused`
        return out
      }
      case 'all':
        return {
          reason: 'all',
          file: allAt ? INI_FILE : null,
          line: allAt,
          explain: `all=true in ${INI_FILE}${allAt ? ` line ${allAt}` : ''} accepts every recipient (an open relay)`,
        }
      default:
        return {
          reason: 'not-relaying',
          file: null,
          line: 0,
          explain: 'the client does not relay and no hook of this plugin vouches for the recipient, so Haraka refuses it (unless another rcpt plugin accepts it as a local recipient)',
        }
    }
  }

  /* The entry of a domain, with the key that decides it named (rcpt(), the
   * plugin's question per recipient, gives the line only). */
  function entryOf(core, domain) {
    if (!domain) return { action: 'unlisted', line: 0, key: null }
    const e = core.rcpt(domain)
    return { action: e.action, line: e.line, key: e.action === 'unlisted' ? null : core.rcptKey(domain) || null }
  }

  function decideRecipient(core, settings, client, text, allAt) {
    const { address, domain, error } = parseRecipient(text)
    const out = { address, domain, accepted: false, code: 550, message: '', reason: '', file: null, line: 0, key: null, explain: '', route: null }
    if (error) {
      Object.assign(out, { code: 501, message: error, reason: 'bad-address' })
      out.explain = 'Haraka refuses the address itself (501), before any rcpt hook runs, whoever the client is'
      return out
    }
    const rule = rcptRule(settings, client.relay, () => entryOf(core, domain))
    Object.assign(out, explainRule(rule, domain, client, allAt))
    if (rule.by === 'dest') out.key = rule.key
    out.code = rule.code
    out.accepted = rule.code === 250
    out.message = rule.code === 250 ? `recipient <${address}> OK` : rule.message || `I cannot deliver mail for <${address}>`
    if (out.accepted) out.route = decideRoute(core, settings, domain)
    return out
  }

  /* What relay-wasm answers the client at `ip` (authenticated or not) for
   * each recipient, in order:
   *   { settings,
   *     client: { ip, auth, valid, relay, why: 'acl'|'auth'|'none', file, line, explain },
   *     recipients: [{ address, domain, accepted, code, message, reason, file, line,
   *                    key (the relay_dest_domains.ini key that decided: the domain's
   *                    own, or a subdomain key such as '.example.com'; null when none did),
   *                    explain, route: null | { status: 'mx'|'nexthop'|'invalid',
   *                    nexthop? (as written), outbound? (what get_mx is handed,
   *                    a password in it as ***),
   *                    why? (invalid: what is wrong), key?, file?, line?, explain } }] }
   * The RelayCore may throw RelayTrap; the plugin answers DENYSOFT then. */
  function decide(core, { ip = '', auth = false, rcpts = [] } = {}) {
    const settings = core.settings()
    // as Haraka hands connection.remote.ip to the plugin: not trimmed
    const client = decideClient(core, settings, String(ip == null ? '' : ip), !!auth)
    const allAt = !client.relay && !settings.dest_domains && settings.all ? allLine(core) : 0
    const recipients = rcpts.map((r) => decideRecipient(core, settings, client, r, allAt))
    return { settings, client, recipients }
  }

  return { decide, rcptRule, explainRule, destDomainsAnswer, outboundRoute, parseRecipient, domainToASCII, splitRecipients, isIpAddress, aclAddress, NOT_ALLOWED, NOT_HERE }
})
