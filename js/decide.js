/*
 * decide.js - what relay-wasm answers a client, explained.
 *
 * For: the CLI (js/cli.js), the validator page (web/validator.js) and, if
 * it wants, the plugin (index.js).  Pure: it asks a RelayCore
 * (js/wasm-module.js) and returns plain objects; no I/O, no globals.  The
 * rules are those of the hooks in index.js:
 *
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
 *  - get_mx (outbound, for accepted recipients): with force_routing=true the
 *    nexthop of the domain, else of `any`, else the MX; a broken entry
 *    defers the mail.
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

  /* 'User@Example.COM', '<user@example.com>', 'postmaster' ->
   * { address (as given, without <>), local, domain (lower case, '' if none) } */
  function parseRecipient(text) {
    let s = String(text == null ? '' : text).trim()
    if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1).trim()
    const at = s.lastIndexOf('@')
    const local = at < 0 ? s : s.slice(0, at)
    const domain = at < 0 ? '' : s.slice(at + 1).trim().toLowerCase()
    return { address: s, local, domain }
  }

  /* Splits a recipients field (lines, commas, blanks) into addresses. */
  function splitRecipients(text) {
    return String(text == null ? '' : text)
      .split(/[\s,;]+/)
      .filter((s) => s.length > 0)
  }

  /* Is `ip` an address the ACL can hold?  Asked of a second instance of the
   * same module whose ACL holds the whole of IPv4 and IPv6, so the answer is
   * the module's own parser's. */
  const probes = new WeakMap()
  function isIpAddress(core, ip) {
    if (typeof ip !== 'string' || ip === '') return false
    let probe = probes.get(core.module)
    if (!probe) {
      probe = new core.constructor(core.module)
      probe.load(ACL_FILE, '0.0.0.0/0\n::/0\n')
      probes.set(core.module, probe)
    }
    return probe.aclMatch(ip) !== null
  }

  /* The line of relay.ini that says all = true (its open-relay warning). */
  function allLine(core) {
    const d = core.diagnostics().find((x) => x.file === INI_FILE && x.code === 'open-relay')
    return d ? d.line : 0
  }

  function decideClient(core, settings, ip, auth) {
    const valid = isIpAddress(core, ip)
    const client = { ip, auth, valid, relay: false, why: 'none', file: null, line: 0, explain: '' }
    const hit = settings.acl && valid ? core.aclMatch(ip) : null
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

  function decideRoute(core, settings, domain) {
    if (!settings.force_routing) {
      return { status: 'mx', explain: `MX lookup for ${domain || 'the domain'} (force_routing=false)` }
    }
    const r = core.route(domain)
    if (r.status === 'mx') {
      return { status: 'mx', explain: `MX lookup for ${domain || 'the domain'}: no nexthop for it and no \`any\` entry` }
    }
    const where = `entry ${r.key}, ${DOMAINS_FILE} line ${r.line}`
    if (r.status === 'nexthop') {
      const hop = Array.isArray(r.nexthop) ? r.nexthop.join(', ') : r.nexthop
      return { status: 'nexthop', nexthop: r.nexthop, key: r.key, file: DOMAINS_FILE, line: r.line, explain: `nexthop ${hop} (${where})` }
    }
    return {
      status: 'invalid',
      key: r.key,
      file: DOMAINS_FILE,
      line: r.line,
      explain: `deferred: the route of the ${where} cannot be read, so outbound keeps the mail queued (temporary failure)`,
    }
  }

  function decideRecipient(core, settings, client, text, allAt) {
    const { address, domain } = parseRecipient(text)
    const out = { address, domain, accepted: false, code: 550, message: '', reason: '', file: null, line: 0, explain: '', route: null }
    const ok = () => Object.assign(out, { accepted: true, code: 250, message: `recipient <${address}> OK` })
    if (client.relay) {
      ok()
      out.reason = client.why === 'acl' ? 'relay-acl' : 'relay-auth'
      if (client.why === 'acl') Object.assign(out, { file: ACL_FILE, line: client.line })
      const by = client.why === 'acl' ? `${ACL_FILE} line ${client.line}` : 'SMTP AUTH'
      out.explain = `the client relays (${by}), so every recipient is accepted; ${DOMAINS_FILE} is not consulted`
    } else if (settings.dest_domains) {
      const r = domain ? core.rcpt(domain) : { action: 'unlisted', line: 0 }
      const answer = destDomainsAnswer(r.action)
      out.reason = `dest-${r.action}`
      if (r.line) Object.assign(out, { file: DOMAINS_FILE, line: r.line })
      const entry = `${DOMAINS_FILE} line ${r.line}`
      if (answer.rc === 'ok') {
        ok()
        out.explain = `${entry} says accept for ${domain}: accepted and relayed (this recipient only)`
      } else if (answer.rc === 'cont') {
        ok()
        out.explain = settings.all
          ? `${entry} says continue for ${domain}: relaying for this recipient, and all=true accepts it`
          : `${entry} says continue for ${domain}: relaying for this recipient, so it is accepted unless a later rcpt plugin refuses it`
      } else {
        out.message = answer.message
        if (r.action === 'unlisted') out.explain = domain ? `${domain} is not listed in ${DOMAINS_FILE}` : `the address has no domain, so no ${DOMAINS_FILE} entry applies`
        else if (r.action === 'deny') out.explain = `${entry} says deny for ${domain}`
        else if (r.action === 'noaction') out.explain = `${entry} gives ${domain} no action (a route only)`
        else out.explain = `${entry}, the entry for ${domain}, cannot be read, so its recipients are refused`
      }
    } else if (settings.all) {
      ok()
      out.reason = 'all'
      if (allAt) Object.assign(out, { file: INI_FILE, line: allAt })
      out.explain = `all=true in ${INI_FILE}${allAt ? ` line ${allAt}` : ''} accepts every recipient (an open relay)`
    } else {
      out.reason = 'not-relaying'
      out.message = `I cannot deliver mail for <${address}>`
      out.explain = 'the client does not relay and no hook of this plugin vouches for the recipient, so Haraka refuses it (unless another rcpt plugin accepts it as a local recipient)'
    }
    if (out.accepted) out.route = decideRoute(core, settings, domain)
    return out
  }

  /* What relay-wasm answers the client at `ip` (authenticated or not) for
   * each recipient, in order:
   *   { settings,
   *     client: { ip, auth, valid, relay, why: 'acl'|'auth'|'none', file, line, explain },
   *     recipients: [{ address, domain, accepted, code, message, reason, file, line,
   *                    explain, route: null | { status: 'mx'|'nexthop'|'invalid',
   *                    nexthop?, key?, file?, line?, explain } }] }
   * The RelayCore may throw RelayTrap; the plugin answers DENYSOFT then. */
  function decide(core, { ip = '', auth = false, rcpts = [] } = {}) {
    const settings = core.settings()
    const client = decideClient(core, settings, String(ip == null ? '' : ip).trim(), !!auth)
    const allAt = !client.relay && !settings.dest_domains && settings.all ? allLine(core) : 0
    const recipients = rcpts.map((r) => decideRecipient(core, settings, client, r, allAt))
    return { settings, client, recipients }
  }

  return { decide, destDomainsAnswer, parseRecipient, splitRecipients, isIpAddress, NOT_ALLOWED, NOT_HERE }
})
