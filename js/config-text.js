/*
 * config-text.js - what the CLI and the validator page both say about config
 * text before and after the module reads it.
 *
 * For: js/cli.js, web/validator.js and index.js.  Pure, runs in Node and browsers.
 *  - decodeConfigBytes(bytes, file): the text as the plugin reads it, and a
 *    warning for each line with bytes that are not UTF-8 (also for index.js);
 *  - sizeProblem(size): why a file that large is not read, or null;
 *  - formatDiagnostic(d, name): `name:line:column: severity: message [code]`
 *    (also the plugin's log lines);
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

  const MAX_ENCODING_NOTES = 100 /* lines named per file; then one count */

  /* At bytes[i], a byte of 0x80 or more: the length of the well-formed
   * character that starts there, or minus the length of the bad sequence
   * (the maximal subpart that a WHATWG UTF-8 decoder turns into one U+FFFD). */
  function badLength(bytes, i, n) {
    const b = bytes[i]
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
    } else return -1 // not a lead byte: a bad sequence of one
    for (let k = 1; k <= need; k++) {
      const c = i + k < n ? bytes[i + k] : -1
      if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return -k // lead and k-1 good continuations
    }
    return need + 1
  }

  /* A config file's bytes as the plugin reads them: decoded as UTF-8 the
   * way Buffer#toString('utf8') and TextDecoder do (WHATWG: each bad
   * sequence becomes U+FFFD, a BOM is kept), so every line is read as
   * Haraka reads it.  Each line that held bytes that are not UTF-8 gets a
   * warning with the line and the column of its first such byte (lines
   * end at CR, LF or CRLF, as the module counts them).
   *   decodeConfigBytes(bytes: Uint8Array|Buffer, file: string)
   *     -> { text: string, diagnostics: [{ file, line, column, severity, code, message }] }
   * For the CLI, the validator page and the plugin (index.js). */
  function decodeConfigBytes(bytes, file) {
    // Nearly every file is UTF-8 throughout: then a decoder that refuses bad
    // bytes gives the same text, and there is nothing to report (one pass;
    // the scan below costs about 3 ns a byte, 150 ms for a 50 MB file).
    try {
      return { text: new TextDecoder('utf-8', { ignoreBOM: true, fatal: true }).decode(bytes), diagnostics: [] }
    } catch {
      // some bytes are not UTF-8: decode them as U+FFFD and say where
    }
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes)
    const diagnostics = []
    let line = 1
    let start = 0
    let cur = null // the warning of the current line
    let lines = 0
    let moreLines = 0
    let lastMore = 0
    const n = bytes.length
    for (let i = 0; i < n; ) {
      const b = bytes[i]
      if (b < 0x80) {
        if (b === 10 || (b === 13 && bytes[i + 1] !== 10)) {
          line++
          start = i + 1
        }
        i++
        continue
      }
      const len = badLength(bytes, i, n)
      if (len > 0) {
        i += len
        continue
      }
      const bad = -len
      if (!cur || cur.line !== line) {
        if (lines === MAX_ENCODING_NOTES) {
          if (lastMore !== line) moreLines++
          lastMore = line
        } else {
          lines++
          cur = { file, line, column: i - start + 1, severity: 'warning', code: 'text-encoding', bytes: [] }
          diagnostics.push(cur)
        }
      }
      if (cur && cur.line === line) for (let k = 0; k < bad; k++) cur.bytes.push(bytes[i + k])
      i += bad
    }
    for (const d of diagnostics) {
      const hex = d.bytes.slice(0, 8).map((x) => `0x${x.toString(16).padStart(2, '0')}`)
      if (d.bytes.length > 8) hex.push('…')
      d.message =
        d.bytes.length === 1
          ? `a byte that is not UTF-8 (${hex[0]}) at column ${d.column}; read as U+FFFD, as Haraka reads it`
          : `${d.bytes.length} bytes that are not UTF-8 (${hex.join(' ')}) from column ${d.column}; read as U+FFFD, as Haraka reads them`
      delete d.bytes
    }
    if (moreLines) {
      diagnostics.push({
        file,
        line: diagnostics[diagnostics.length - 1].line,
        column: 0,
        severity: 'warning',
        code: 'text-encoding',
        message: `${moreLines} more line${moreLines === 1 ? '' : 's'} with bytes that are not UTF-8 not shown`,
      })
    }
    return { text, diagnostics }
  }

  /* Why a file of `size` bytes is not read, or null: the one size rule of
   * the plugin, relay-check and the page. */
  function sizeProblem(size) {
    return size > MAX_FILE_BYTES ? `too large: ${size} bytes, over the ${MAX_FILE_BYTES / 1024 / 1024} MiB that relay-wasm reads per file` : null
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

  return { MAX_FILE_BYTES, sizeProblem, decodeConfigBytes, formatDiagnostic, counts, countText }
})
