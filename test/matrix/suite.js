/*
 * suite.js - the conformance suite: config text in, diagnostics and
 * decisions out, compared with the expectations of cases.json.
 *
 * For: test/matrix/run.mjs (Node 18-26, Bun, Deno), the Chromium page of
 * scripts/matrix.js and `node test/matrix/make-cases.js --check`.  Needs
 * nothing but WebAssembly and the loader (js/wasm-module.js): the same file
 * runs in every runtime.
 *
 *   RelaySuite.run(RelayWasm, wasmBytes, cases) ->
 *     { cases, checks, failures: [{ case, what, expected, actual }] }
 *
 * A case is { name, loads: [[file, text | { generate, ... }]], expect }.
 * The expectations are not answers of relay.wasm: make-cases.js writes them
 * from haraka-config, ipaddr.js and haraka-plugin-relay 1.0.2's rules
 * (test/support/reference.js), the hand-written expectations of
 * test/fixtures/bad, and hand-reasoned entries for README's deliberate
 * differences.  expect holds
 *   diagnostics  [{ file, line, code, severity }]: every error and warning,
 *                no other, as a multiset (a duplicate counts); notes (info)
 *                listed must be there, others may come on top; severities
 *                are README's table.  Messages are the module's own text and
 *                are not compared; the list must be in file, line order.
 *   settings     { acl, force_routing, dest_domains, all }
 *   acl          { client: line | null }
 *   rcpt         { domain: { action, line } }
 *   route        { domain: RelayCore.route answer } (`why` of an invalid
 *                route compared only where the case gives it)
 * Texts too big for the table are made here, the same way everywhere
 * (GENERATORS).
 */
'use strict'
;(function (root, factory) {
  const api = factory()
  if (typeof module === 'object' && module.exports) module.exports = api
  else root.RelaySuite = api
})(typeof globalThis === 'object' ? globalThis : this, function () {
  const GENERATORS = {
    /* n lines of IPv4 hosts 10.x.y.z, every third one broken */
    'acl-lines': ({ lines }) => {
      const out = new Array(lines)
      for (let i = 0; i < lines; i++) {
        const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}`
        out[i] = i % 3 === 2 ? `${host}.300` : `${host}.${i & 255}`
      }
      return out.join('\n') + '\n'
    },
    /* [domains], then n entries d<i>.example, every odd one broken */
    'domains-lines': ({ lines }) => {
      const out = ['[domains]']
      for (let i = 0; i < lines; i++) out.push(i % 2 ? `d${i}.example = {"action":` : `d${i}.example = {"action":"accept"}`)
      return out.join('\n') + '\n'
    },
    /* a JSON value nested `depth` arrays deep */
    'deep-json': ({ key, depth }) => `[domains]\n${key} = {"action":"accept","x":${'['.repeat(depth)}${']'.repeat(depth)}}\n`,
    /* one line of `length` characters, then a good line */
    'long-line': ({ file, length }) =>
      file === 'relay_acl_allow'
        ? `192.0.2.${'1'.repeat(length)}\n192.0.2.9\n`
        : file === 'relay.ini'
          ? `[relay]\nall = ${'x'.repeat(length)}\nacl = true\n`
          : `[domains]\n${'a'.repeat(length)} = {"action":"accept"}\nexample.com = {"action":"accept"}\n`,
  }

  function text(spec) {
    if (typeof spec === 'string') return spec
    const gen = GENERATORS[spec.generate]
    if (!gen) throw new Error(`no generator ${spec.generate}`)
    return gen(spec)
  }

  /* JSON text with the keys of every object sorted: equal values, equal text */
  function canonical(v) {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
    if (v && typeof v === 'object') {
      return `{${Object.keys(v)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
        .join(',')}}`
    }
    return JSON.stringify(v === undefined ? null : v)
  }

  function same(a, b) {
    return canonical(a) === canonical(b)
  }

  const FILES = ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']
  const diagKey = (d) => `${d.file}:${d.line}:${d.code}:${d.severity}`

  /* Expected and actual diagnostics as multisets of file:line:code:severity
   * (notes that the case does not list left out of the actual ones):
   * { missing: [...], extra: [...] }, both empty when they agree. */
  function compareDiagnostics(expected, actual) {
    const want = new Map()
    for (const d of expected) want.set(diagKey(d), (want.get(diagKey(d)) || 0) + 1)
    const extra = []
    for (const d of actual) {
      const k = diagKey(d)
      if (want.get(k)) want.set(k, want.get(k) - 1)
      else if (d.severity !== 'info') extra.push(k)
    }
    const missing = []
    for (const [k, n] of want) for (let i = 0; i < n; i++) missing.push(k)
    return { missing, extra }
  }

  /* The first place where the list is out of file, line order, or -1. */
  function unordered(list) {
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]
      const b = list[i]
      const fa = FILES.indexOf(a.file)
      const fb = FILES.indexOf(b.file)
      if (fa > fb || (fa === fb && a.line > b.line)) return i
    }
    return -1
  }

  /* Runs one case: the module's answers to the questions of expect. */
  function answers(core, c) {
    for (const [file, spec] of c.loads) core.load(file, text(spec))
    const e = c.expect
    const got = { diagnostics: core.diagnostics(), settings: core.settings(), acl: {}, rcpt: {}, route: {} }
    for (const ip of Object.keys(e.acl || {})) {
      const m = core.aclMatch(ip)
      got.acl[ip] = m && m.line > 0 ? m.line : null
    }
    for (const d of Object.keys(e.rcpt || {})) {
      const r = core.rcpt(d)
      got.rcpt[d] = { action: r.action, line: r.line }
    }
    for (const d of Object.keys(e.route || {})) got.route[d] = core.route(d)
    return got
  }

  function run(RelayWasm, bytes, cases) {
    const module = new WebAssembly.Module(bytes)
    const result = { cases: 0, checks: 0, failures: [] }
    const fail = (c, what, expected, actual) => result.failures.push({ case: c.name, what, expected, actual })
    for (const c of cases) {
      result.cases++
      let got
      try {
        got = answers(new RelayWasm.RelayCore(module), c)
      } catch (err) {
        fail(c, 'no exception', null, String((err && err.stack) || err))
        continue
      }
      const e = c.expect
      result.checks++
      const diff = compareDiagnostics(e.diagnostics, got.diagnostics)
      if (diff.missing.length || diff.extra.length) fail(c, 'diagnostics (missing, then not expected)', diff.missing, diff.extra)
      result.checks++
      const at = unordered(got.diagnostics)
      if (at >= 0) fail(c, `diagnostics out of file, line order at ${at}`, null, got.diagnostics.slice(at - 1, at + 1))
      result.checks++
      if (!same(got.settings, e.settings)) fail(c, 'settings', e.settings, got.settings)
      for (const kind of ['acl', 'rcpt', 'route']) {
        for (const q of Object.keys(e[kind] || {})) {
          result.checks++
          let actual = got[kind][q]
          const want = e[kind][q]
          if (kind === 'route' && actual && want && want.why === undefined && actual.why !== undefined) {
            actual = Object.assign({}, actual)
            delete actual.why
          }
          if (!same(actual, want)) fail(c, `${kind} ${q}`, want, actual)
        }
      }
    }
    return result
  }

  return { run, answers, text, compareDiagnostics, GENERATORS }
})
