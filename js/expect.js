/*
 * expect.js - relay policy tests: a file of expectations, each a question
 * relay-check can answer and the answer it must give.
 *
 * For: js/cli.js (relay-check DIR --expect FILE) and, later, the validator
 * page.  Pure: it asks a RelayCore (js/wasm-module.js) through decide()
 * (js/decide.js), the code path of relay-check's question mode, and returns
 * plain objects; no I/O, no globals.  Runs in Node and browsers.
 *
 * The file: one expectation a line; blank lines and lines whose first
 * character that is not a blank is `#` are skipped; lines end at CRLF, CR
 * or LF.
 *
 *     CLIENT [auth] -> RECIPIENT: ANSWER
 *
 *  - CLIENT: an IPv4 or IPv6 address, as `--ip` takes it;
 *  - auth: the client has authenticated (SMTP AUTH), as `--auth`;
 *  - RECIPIENT: as `--rcpt` takes it (a@example.net, <a@example.net>,
 *    postmaster), read as Haraka reads RCPT TO;
 *  - ANSWER (keywords in any case, blanks between words as you like):
 *      accept                 the recipient is accepted (250): the client
 *                             relays (relay_acl_allow, AUTH), or an accept or
 *                             continue entry, or all=true vouches for it
 *      accept via ROUTE       ... and outbound sends it to the nexthop ROUTE,
 *                             written as in relay_dest_domains.ini (an array
 *                             as `a, b`); a password in a URL is never
 *                             compared (nor printed): write it as ***
 *      accept by mx           ... and outbound looks up the domain's MX
 *      accept deferred        ... but its route cannot be read: outbound
 *                             keeps the mail queued (temporary failure)
 *      refuse                 the recipient is not accepted: 550 or 501,
 *                             including `left to other plugins`
 *      refuse CODE            ... with that code (550 or 501)
 *      left to other plugins  no hook of this plugin vouches for the
 *                             recipient and it does not relay: Haraka
 *                             answers 550 unless another rcpt plugin
 *                             accepts it (relay-check prints it refused)
 *
 * The answer is the one after the last `:` that is followed by an answer
 * word, so a recipient may hold a colon ([IPv6:...] literals).  relay-check
 * never answers a recipient 4xx at RCPT time: a route that cannot be read is
 * `accept deferred`.
 *
 *   parseExpectations(text) -> [{ line, text, error } | { line, text, ip, auth, rcpt, answer }]
 *   checkExpectations(core, text) -> { results, total, hold, fail, malformed, ok }
 *   textLines(report, name), annotations(report, name), jsonReport(report, name)
 *     what relay-check prints (each line still to pass js/safe-text.js).
 */
'use strict'
;(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory(require('./decide'), require('./safe-text'))
  else root.RelayExpect = factory(root.RelayDecide, root.RelaySafeText)
})(typeof globalThis === 'object' ? globalThis : this, function (decideApi, safeText) {
  const { decide } = decideApi
  const { maskSecrets } = safeText

  const SYNTAX = 'CLIENT [auth] -> RECIPIENT: ANSWER'
  const WORDS = "'accept', 'refuse' or 'left to other plugins'"
  /* a colon that starts the answer: followed by an answer word */
  const ANSWER_START = /:\s*(?=(?:accept|refuse|left\s+to\s+other\s+plugins)(?:\s|$))/gi

  class Malformed extends Error {}

  const quote = (s) => `'${s}'`

  /* ANSWER -> { kind: 'accept'|'refuse'|'left', code?, route? } where route
   * is null or { status: 'nexthop', hops: [...] } | { status: 'mx' } |
   * { status: 'invalid' }. */
  function parseAnswer(s) {
    const m = /^(accept|refuse|left\s+to\s+other\s+plugins)(?:\s+(.*))?$/is.exec(s)
    if (!m) throw new Malformed(`${quote(s)} is no answer: write ${WORDS} after the recipient`)
    const word = m[1].toLowerCase()
    const rest = (m[2] ?? '').trim()
    if (word === 'accept') {
      if (rest === '') return { kind: 'accept', route: null }
      if (/^by\s+mx$/i.test(rest)) return { kind: 'accept', route: { status: 'mx' } }
      if (/^deferred$/i.test(rest)) return { kind: 'accept', route: { status: 'invalid' } }
      const via = /^via(?:\s+(.*))?$/is.exec(rest)
      if (!via) throw new Malformed(`'accept' takes 'via ROUTE', 'by mx' or 'deferred' after it, not ${quote(rest)}`)
      const list = (via[1] ?? '').trim()
      if (list === '') throw new Malformed("'accept via' names no route")
      const hops = list.split(/\s*,\s*/)
      const bad = hops.find((h) => h === '' || /\s/.test(h))
      if (bad !== undefined) throw new Malformed(bad === '' ? `an empty element in the route ${quote(list)}` : `a blank in the route element ${quote(bad)}`)
      // a password is never compared, nor kept
      return { kind: 'accept', route: { status: 'nexthop', hops: hops.map(maskSecrets) } }
    }
    if (word === 'refuse') {
      if (rest === '') return { kind: 'refuse', code: null }
      if (/^(?:550|501)$/.test(rest)) return { kind: 'refuse', code: Number(rest) }
      throw new Malformed(`'refuse' takes a code, 550 or 501, after it, not ${quote(rest)}`)
    }
    if (rest !== '') throw new Malformed(`'left to other plugins' takes nothing after it, not ${quote(rest)}`)
    return { kind: 'left' }
  }

  /* One line that is not blank or a comment. */
  function parseLine(s) {
    const arrow = s.indexOf('->')
    if (arrow < 0) throw new Malformed(`no '->' between the client and the recipient (write ${SYNTAX})`)
    const client = s.slice(0, arrow).trim().split(/\s+/).filter(Boolean)
    if (client.length === 0) throw new Malformed(`no client address before '->' (write ${SYNTAX})`)
    const [ip, ...more] = client
    if (more.length > 1 || (more.length === 1 && more[0].toLowerCase() !== 'auth')) {
      throw new Malformed(`${quote(more.join(' '))} after the client address: only 'auth' may stand there`)
    }
    const rest = s.slice(arrow + 2)
    let at = -1
    let len = 0
    for (const m of rest.matchAll(ANSWER_START)) [at, len] = [m.index, m[0].length]
    if (at < 0) {
      const colon = rest.lastIndexOf(':')
      const after = colon < 0 ? '' : rest.slice(colon + 1).trim()
      if (after === '') throw new Malformed(`no answer after the recipient (write ${SYNTAX}; ANSWER is ${WORDS})`)
      parseAnswer(after) // throws: names what stands there
      throw new Malformed(`no answer after the recipient (write ${SYNTAX})`)
    }
    const rcpt = rest.slice(0, at).trim()
    if (rcpt === '') throw new Malformed(`no recipient between '->' and ':' (write ${SYNTAX})`)
    return { ip, auth: more.length === 1, rcpt, answer: parseAnswer(rest.slice(at + len).trim()) }
  }

  function parseExpectations(text) {
    const out = []
    String(text)
      .split(/\r\n|\r|\n/)
      .forEach((raw, i) => {
        const s = raw.trim() // JavaScript's \s: a BOM too
        if (s === '' || s.startsWith('#')) return
        // the line as it may be shown: no password of a route
        const entry = { line: i + 1, text: maskSecrets(s) }
        try {
          Object.assign(entry, parseLine(s))
        } catch (err) {
          if (!(err instanceof Malformed)) throw err
          entry.error = err.message
        }
        out.push(entry)
      })
    return out
  }

  /* ---- the answers, as written in the file ---------------------------- */

  const joinHops = (hops) => hops.map(maskSecrets).join(', ')

  function expectedText(a) {
    if (a.kind === 'left') return 'left to other plugins'
    if (a.kind === 'refuse') return a.code ? `refuse ${a.code}` : 'refuse'
    if (!a.route) return 'accept'
    if (a.route.status === 'mx') return 'accept by mx'
    if (a.route.status === 'invalid') return 'accept deferred'
    return `accept via ${joinHops(a.route.hops)}`
  }

  /* What relay-check answered, in the words of the file (the most precise). */
  function gotText(r) {
    if (!r.accepted) return r.reason === 'not-relaying' ? 'left to other plugins' : `refuse ${r.code}`
    const route = r.route
    if (route.status === 'nexthop') return `accept via ${joinHops([].concat(route.nexthop))}`
    return route.status === 'mx' ? 'accept by mx' : 'accept deferred'
  }

  /* null when the answer is as expected, else why not. */
  function mismatch(a, r) {
    if (a.kind === 'accept') {
      if (!r.accepted) return r.reason === 'bad-address' ? r.message : r.explain
      if (!a.route) return null
      const route = r.route
      // a password is never compared: both sides masked
      if (a.route.status === route.status && (route.status !== 'nexthop' || joinHops(a.route.hops) === joinHops([].concat(route.nexthop)))) return null
      return route.status === 'nexthop' ? `the route of entry ${route.key}, ${route.file} line ${route.line}` : route.explain
    }
    if (r.accepted) return r.explain
    if (a.kind === 'left') return r.reason === 'not-relaying' ? null : r.reason === 'bad-address' ? r.message : r.explain
    return a.code && a.code !== r.code ? (r.reason === 'bad-address' ? r.message : r.explain) : null
  }

  /* Every expectation of `text` asked of `core` (a RelayCore with the
   * config loaded), each as relay-check --ip IP [--auth] --rcpt RCPT. */
  function checkExpectations(core, text) {
    const results = parseExpectations(text).map((e) => {
      if (e.error) return { line: e.line, text: e.text, status: 'malformed', message: `cannot read the expectation: ${e.error}` }
      const decision = decide(core, { ip: e.ip, auth: e.auth, rcpts: [e.rcpt] })
      if (!decision.client.valid) {
        return { line: e.line, text: e.text, status: 'malformed', message: `cannot read the expectation: ${quote(e.ip)} is not an IPv4 or IPv6 address` }
      }
      const r = decision.recipients[0]
      const expected = expectedText(e.answer)
      const got = gotText(r)
      const why = mismatch(e.answer, r)
      const res = { line: e.line, text: e.text, status: why === null ? 'holds' : 'fails', expected, got }
      if (why !== null) Object.assign(res, { reason: why, message: `expected ${expected}, got ${got} (${why})` })
      return Object.assign(res, { client: decision.client, recipient: r })
    })
    const n = (status) => results.filter((r) => r.status === status).length
    const report = { results, total: results.length, hold: n('holds'), fail: n('fails'), malformed: n('malformed') }
    report.ok = report.total > 0 && report.hold === report.total
    return report
  }

  /* ---- what relay-check prints ---------------------------------------- */

  const EMPTY = `no expectation in the file (write one a line: ${SYNTAX})`

  function summary(report, name) {
    if (report.total === 0) return `${name}: ${EMPTY}`
    const { total, hold, fail, malformed } = report
    let s = `${name}: ${hold} of ${total} expectation${total === 1 ? '' : 's'} hold${hold === 1 ? 's' : ''}`
    if (fail) s += `, ${fail} ${fail === 1 ? 'does' : 'do'} not`
    if (malformed) s += `, ${malformed} cannot be read`
    return s
  }

  /* Text: `NAME:LINE: message` for each that does not hold, then a summary. */
  function textLines(report, name) {
    const lines = report.results.filter((r) => r.status !== 'holds').map((r) => `${name}:${r.line}: ${r.message}`)
    lines.push(summary(report, name))
    return lines
  }

  /* GitHub annotations: [kind, props, data] for js/safe-text.js githubCommand. */
  function annotations(report, name) {
    const list = report.results
      .filter((r) => r.status !== 'holds')
      .map((r) => ['error', [['file', name], ['line', r.line], ['title', r.status === 'fails' ? 'relay-check expectation' : 'relay-check bad expectation']], r.message])
    if (report.total === 0) list.push(['error', [['file', name], ['title', 'relay-check expectation']], EMPTY])
    return list
  }

  function jsonReport(report, name) {
    const { total, hold, fail, malformed, ok } = report
    return { file: name, ok, total, hold, fail, malformed, results: report.results, ...(total === 0 ? { message: EMPTY } : {}) }
  }

  return { parseExpectations, checkExpectations, expectedText, gotText, summary, textLines, annotations, jsonReport, SYNTAX }
})
