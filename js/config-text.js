/*
 * config-text.js - what the CLI and the validator page both say about config
 * text before and after the module reads it.
 *
 * For: js/cli.js and web/validator.js.  Pure, runs in Node and browsers.
 *  - textProblem(bytes): null for text, else why it is not text (a NUL byte
 *    or bytes that are not UTF-8) and where;
 *  - formatDiagnostic(d, name): `name:line:column: severity: message [code]`;
 *  - counts(diagnostics): { error, warning, info }.
 */
'use strict'
;(function (root, factory) {
  const api = factory()
  if (typeof module === 'object' && module.exports) module.exports = api
  else root.RelayConfigText = api
})(typeof globalThis === 'object' ? globalThis : this, function () {
  /* Largest file the checkers read: far above any real config, far below
   * what one instance of the module can hold. */
  const MAX_FILE_BYTES = 64 * 1024 * 1024

  /* Where byte `at` is: line (CR, LF and CRLF end lines, as the module
   * reads them) and column (bytes from the line start), both from 1. */
  function position(bytes, at) {
    let line = 1
    let start = 0
    for (let i = 0; i < at; i++) {
      const b = bytes[i]
      if (b === 10 || (b === 13 && bytes[i + 1] !== 10)) {
        line++
        start = i + 1
      }
    }
    return { line, column: at - start + 1 }
  }

  /* Offset of the first byte that does not start or continue a well-formed
   * UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF), or -1. */
  function firstBadUtf8(bytes) {
    const n = bytes.length
    let i = 0
    while (i < n) {
      const b = bytes[i]
      if (b < 0x80) {
        i++
        continue
      }
      let need
      let lo = 0x80
      let hi = 0xbf
      if (b >= 0xc2 && b <= 0xdf) need = 1
      else if (b >= 0xe0 && b <= 0xef) {
        need = 2
        if (b === 0xe0) lo = 0xa0
        if (b === 0xed) hi = 0x9f
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3
        if (b === 0xf0) lo = 0x90
        if (b === 0xf4) hi = 0x8f
      } else return i
      for (let k = 1; k <= need; k++) {
        const c = bytes[i + k]
        if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i
      }
      i += need + 1
    }
    return -1
  }

  /* null when `bytes` (a Uint8Array) is text the checkers read, else
   * { what, line, column, message }. */
  function textProblem(bytes) {
    const nul = bytes.indexOf(0)
    const bad = firstBadUtf8(bytes)
    if (nul < 0 && bad < 0) return null
    const at = nul >= 0 && (bad < 0 || nul < bad) ? nul : bad
    const what = at === nul ? 'a NUL byte' : `a byte that is not UTF-8 (0x${bytes[at].toString(16).padStart(2, '0')})`
    const { line, column } = position(bytes, at)
    return { what, line, column, message: `not a text file: ${what} at line ${line}, column ${column}` }
  }

  /* `name:line:column: severity: message [code]`; the column is left out
   * when unknown (0), and line too when the problem is the whole file. */
  function formatDiagnostic(d, name) {
    const where = d.line ? (d.column ? `${d.line}:${d.column}:` : `${d.line}:`) : ''
    return `${name || d.file}:${where} ${d.severity}: ${d.message} [${d.code}]`
  }

  function counts(diagnostics) {
    const c = { error: 0, warning: 0, info: 0 }
    for (const d of diagnostics) c[d.severity] = (c[d.severity] || 0) + 1
    return c
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? '' : 's'}`
  }

  /* '1 error, 2 warnings, 1 note' or 'no problems' */
  function countText(diagnostics) {
    const c = counts(diagnostics)
    const parts = []
    if (c.error) parts.push(plural(c.error, 'error'))
    if (c.warning) parts.push(plural(c.warning, 'warning'))
    if (c.info) parts.push(plural(c.info, 'note'))
    return parts.length ? parts.join(', ') : 'no problems'
  }

  return { MAX_FILE_BYTES, textProblem, formatDiagnostic, counts, countText }
})
