/*
 * safe-text.js - text that relay-wasm prints, made safe to print.
 *
 * For: js/cli.js (every line relay-check writes, whatever the format),
 * web/validator.js (every text the page shows) and index.js (the plugin's
 * log lines).  Pure; runs in Node and browsers.
 *
 * What is printed holds text from config files (keys, values, routes),
 * file and directory names, addresses and command-line values.  It is read
 * in terminals, in CI logs, where the GitHub Actions runner acts on
 * workflow commands (a line that starts with `::`, after blanks) and on
 * its legacy commands (`##[` anywhere in a line), in pull-request
 * annotations and in Haraka's log.  So:
 *
 *  - maskSecrets(s): the password of every smtp:// or lmtp:// URL in s is
 *    shown as *** (`smtp://user:***@host`); maskRoute(nexthop) masks a
 *    route (a string or an array of them) the same way.  What is handed
 *    to Haraka is never passed through these.
 *  - escapeText(s): masked, then every C0 control, DEL, C1 control
 *    (U+0080-U+009F), bidi control (U+061C, U+200E, U+200F, U+202A-U+202E,
 *    U+2066-U+2069) and line or paragraph separator (U+2028, U+2029) is
 *    written as an escape (\t, \n, \r, else \uXXXX), and `##[` is broken
 *    as `\u0023#[`.  For text on a page.
 *  - safeLine(s): escapeText, and a line that would start with `::` (after
 *    blanks) starts with `\u003a:` instead.  For one printed line: the text
 *    format of relay-check, its stderr, the plugin's log.
 *  - githubCommand(kind, props, data): a workflow command (an annotation)
 *    with its properties and data escaped as GitHub documents it (data:
 *    % CR LF as %25 %0D %0A; properties also : and , as %3A %2C), the
 *    other characters above as \uXXXX and `##[` broken.
 *  - safeJson(value, indent): JSON.stringify with every string masked (and
 *    the value of every auth_pass key, a route as HarakaMx reads it) and
 *    the characters above (those JSON.stringify leaves raw) and the first
 *    `#` of `##[` written as \u escapes: still valid JSON, the same values
 *    (but the masked passwords) once parsed.
 *  - unsafeIn(line, { annotation }): null, or what makes a printed line
 *    unsafe (a raw character of the classes above, a runner command, a
 *    password shown): the tests' check, and the writers' last one.
 * maskSecrets, escapeText and safeLine are idempotent: their output passes
 * through them unchanged.
 */
'use strict'
;(function (root, factory) {
  const api = factory()
  if (typeof module === 'object' && module.exports) module.exports = api
  else root.RelaySafeText = api
})(typeof globalThis === 'object' ? globalThis : this, function () {
  /* Characters never printed raw: C0, DEL, C1, bidi controls, U+2028/9. */
  const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g
  const UNSAFE_ONE = new RegExp(UNSAFE.source)
  /* those that JSON.stringify leaves raw in a string (it escapes C0; the
   * only raw C0 in its text are the line ends of the indentation) */
  const UNSAFE_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g
  /* ##[ anywhere in a line: the runner's legacy command marker.  The first
   * # of each ## that is followed by [ is escaped; none is left after. */
  const LEGACY = /#(?=#\[)/g
  /* a workflow command: `::` at the start of a line, after blanks (the
   * runner trims with .NET's char.IsWhiteSpace: \s and U+0085) */
  const WORKFLOW = /^([\s\u0085]*):(?=:)/
  /* smtp:// or lmtp:// (any case) then the user information: up to the
   * first @ in the authority (which ends at / ? #).  A route the module
   * takes has no other @ there, nor any blank; text after a route (an
   * explanation, a quoted address) may hold an @ further on.  The user
   * name is kept up to its first ':'; what follows it is the password. */
  const CREDENTIALS = /([sl]mtp:\/\/)([^/?#@]*)@/gi

  const SHORT = { '\t': '\\t', '\n': '\\n', '\r': '\\r' }
  const hex4 = (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  const escapeChar = (c) => SHORT[c] || hex4(c)

  function maskSecrets(s) {
    return String(s).replace(CREDENTIALS, (all, scheme, userinfo) => {
      const colon = userinfo.indexOf(':')
      if (colon < 0 || userinfo.slice(colon + 1) === '***') return all
      return `${scheme}${userinfo.slice(0, colon)}:***@`
    })
  }

  /* A route as relay-check and the page show it: a string, an object as
   * HarakaMx reads it ({ exchange, port, auth_user, auth_pass, ... }) or an
   * array of these, with each password masked; anything else as it is. */
  function maskRoute(nexthop) {
    if (typeof nexthop === 'string') return maskSecrets(nexthop)
    if (Array.isArray(nexthop)) return nexthop.map(maskRoute)
    if (nexthop && typeof nexthop === 'object' && typeof nexthop.auth_pass === 'string') return { ...nexthop, auth_pass: '***' }
    return nexthop
  }

  function breakLegacy(s) {
    return s.replace(LEGACY, '\\u0023')
  }

  function escapeText(s) {
    return breakLegacy(maskSecrets(s).replace(UNSAFE, escapeChar))
  }

  function safeLine(s) {
    return escapeText(s).replace(WORKFLOW, '$1\\u003a')
  }

  /* GitHub's escaping of a workflow command's data and properties
   * (@actions/core escapeData, escapeProperty), after the other unsafe
   * characters are written as \uXXXX. */
  function githubData(s) {
    const text = maskSecrets(s)
      .replace(/%/g, '%25')
      .replace(/\r/g, '%0D')
      .replace(/\n/g, '%0A')
      .replace(UNSAFE, hex4)
    return breakLegacy(text)
  }

  function githubProperty(s) {
    return githubData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')
  }

  /* ::kind name=value,...::data.  kind and the names are the caller's
   * words (letters only); values and data are escaped. */
  function githubCommand(kind, props, data) {
    if (!/^[a-z-]+$/.test(kind)) throw new TypeError(`not a workflow command: ${kind}`)
    const list = props.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `${k}=${githubProperty(String(v))}`)
    return `::${kind}${list.length ? ` ${list.join(',')}` : ''}::${githubData(String(data))}`
  }

  function safeJson(value, indent) {
    const text = JSON.stringify(value, (key, v) => (typeof v !== 'string' ? v : key === 'auth_pass' ? '***' : maskSecrets(v)), indent)
    // raw characters of these classes, and '#', only stand inside strings
    return text === undefined ? text : breakLegacy(text.replace(UNSAFE_JSON, hex4))
  }

  /* What makes one printed line unsafe, or null.  An annotation line
   * (--format github) may start with its own `::kind ...::`, and nothing
   * else may. */
  function unsafeIn(line, { annotation = false } = {}) {
    const s = String(line)
    const raw = UNSAFE_ONE.exec(s)
    if (raw) return `a raw U+${raw[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`
    if (s.includes('##[')) return 'a ##[ runner command'
    if (annotation) {
      if (!/^::(error|warning|notice) [^:]*::/.test(s)) return 'an annotation of another shape'
    } else if (WORKFLOW.test(s)) return 'a :: workflow command at the start of the line'
    if (maskSecrets(s) !== s) return 'a password in a URL'
    return null
  }

  return { maskSecrets, maskRoute, escapeText, safeLine, githubData, githubProperty, githubCommand, safeJson, unsafeIn }
})
