/*
 * suite.js - the conformance suite: config text in, diagnostics and
 * decisions out, from the shared table in cases.json.
 *
 * For: test/matrix/run.mjs (Node 18-26, Bun, Deno) and the Chromium page of
 * scripts/matrix.js.  Needs nothing but WebAssembly and the loader
 * (js/wasm-module.js): the same file runs in every runtime.
 *
 *   RelaySuite.run(RelayWasm, wasmBytes, cases) ->
 *     { cases, checks, failures: [{ case, what, expected, actual }] }
 *
 * A case is { name, loads: [[file, text | { generate, ... }]], expect }
 * where expect holds diagnostics (the whole list, messages included; over
 * 50 of them, their count, the first five and a digest of all),
 * settings, acl { client: line | null }, rcpt { domain: { action, line } }
 * and route { domain: answer of RelayCore.route }.  Texts too big for the
 * table are made here, the same way everywhere (GENERATORS).
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

  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b)
  }

  /* FNV-1a over the JSON text: long diagnostic lists are kept in the table
   * as { count, first, digest } */
  function digest(value) {
    const s = JSON.stringify(value)
    let h = 0x811c9dc5
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i)
      h = Math.imul(h, 0x01000193) >>> 0
    }
    return h.toString(16).padStart(8, '0')
  }

  function summary(diagnostics) {
    if (diagnostics.length <= 50) return diagnostics
    return { count: diagnostics.length, first: diagnostics.slice(0, 5), digest: digest(diagnostics) }
  }

  /* Runs one case; returns the answers in the shape of expect. */
  function answers(core, c) {
    for (const [file, spec] of c.loads) core.load(file, text(spec))
    const e = c.expect
    const got = { diagnostics: summary(core.diagnostics()), settings: core.settings(), acl: {}, rcpt: {}, route: {} }
    for (const ip of Object.keys(e.acl || {})) {
      const m = core.aclMatch(ip)
      got.acl[ip] = m ? m.line : null
    }
    for (const d of Object.keys(e.rcpt || {})) got.rcpt[d] = core.rcpt(d)
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
      if (!same(got.diagnostics, e.diagnostics)) {
        if (Array.isArray(got.diagnostics) && Array.isArray(e.diagnostics)) {
          const i = got.diagnostics.findIndex((d, k) => !same(d, e.diagnostics[k]))
          const k = i < 0 ? e.diagnostics.length : i
          fail(c, `diagnostics (${got.diagnostics.length} vs ${e.diagnostics.length}; first difference at ${k})`, e.diagnostics[k], got.diagnostics[k])
        } else {
          fail(c, 'diagnostics', e.diagnostics, got.diagnostics)
        }
      }
      result.checks++
      if (!same(got.settings, e.settings)) fail(c, 'settings', e.settings, got.settings)
      for (const kind of ['acl', 'rcpt', 'route']) {
        for (const q of Object.keys(e[kind] || {})) {
          result.checks++
          if (!same(got[kind][q], e[kind][q])) fail(c, `${kind} ${q}`, e[kind][q], got[kind][q])
        }
      }
    }
    return result
  }

  return { run, answers, text, summary, GENERATORS }
})
