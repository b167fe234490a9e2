#!/usr/bin/env node
/*
 * build-web.js - `npm run build:web`: writes dist/relay-validator.html, the
 * config validator as one self-contained file.
 *
 * Inlines web/validator.css, js/wasm-module.js, js/decide.js,
 * js/config-text.js, js/safe-text.js, web/validator.js, the shipped config/
 * files (the editors' starting text) and wasm/relay.wasm as base64.  The
 * page makes no request: it works from file:// and from any static host.
 * The output depends on those inputs only (no date, no path), so a build is
 * reproducible.
 *
 * Its Content-Security-Policy allows exactly the page's own inline
 * scripts, by their sha256 (written in place of @SCRIPT-HASHES@), and no
 * other: no 'unsafe-inline', so an inline handler or script that found its
 * way into the page would not run.
 *
 *   node scripts/build-web.js [OUT]     default dist/relay-validator.html
 */
'use strict'

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const OUT = path.join(ROOT, 'dist', 'relay-validator.html')
const { RelayCore } = require('../js/wasm-module')

const SCRIPTS = ['js/wasm-module.js', 'js/decide.js', 'js/config-text.js', 'js/safe-text.js', 'js/compare.js']

const read = (rel) => fs.readFileSync(path.join(ROOT, rel), 'utf8')

/* Text that goes inside <script> or <style> must not end it early. */
function inline(text, tag, what) {
  if (new RegExp(`</${tag}|<!--`, 'i').test(text)) throw new Error(`${what} contains </${tag} or <!--: it cannot be inlined`)
  return text
}

function build(out = OUT) {
  const wasm = fs.readFileSync(path.join(ROOT, 'wasm', 'relay.wasm'))
  const pkg = JSON.parse(read('package.json'))
  const sha = crypto.createHash('sha256').update(wasm).digest('hex')
  const defaults = {}
  // the files are those the module names (relay_abi), not a list of our own
  for (const f of new RelayCore(new WebAssembly.Module(wasm)).abi.files) {
    const p = path.join(ROOT, 'config', f)
    defaults[f] = fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : ''
  }
  const data = {
    wasm: wasm.toString('base64'),
    defaults,
    about: `${pkg.name} ${pkg.version}; relay.wasm ${wasm.length} bytes, sha256 ${sha}`,
  }
  // JSON in a script: escape < so no text in it can close the element
  const dataJs = `globalThis.RelayValidatorData = ${JSON.stringify(data).replace(/</g, '\\u003c')}\n`
  const scripts = [...SCRIPTS.map((rel) => inline(read(rel), 'script', rel)), dataJs, inline(read('web/validator.js'), 'script', 'web/validator.js')]
  const template = read('web/validator.html')
  if (!template.includes('/*@STYLE@*/') || !template.includes('<!--@SCRIPTS@-->') || !template.includes('@SCRIPT-HASHES@')) {
    throw new Error('web/validator.html lacks its placeholders')
  }
  // each script's text exactly as it stands between <script> and </script>,
  // and its hash for the Content-Security-Policy
  const bodies = scripts.map((s) => `\n${s.trimEnd()}\n`)
  const hashes = bodies.map((b) => `'sha256-${crypto.createHash('sha256').update(b, 'utf8').digest('base64')}'`)
  const html = template
    .replace('@SCRIPT-HASHES@', () => hashes.join(' '))
    .replace('/*@STYLE@*/', () => inline(read('web/validator.css'), 'style', 'web/validator.css').trimEnd())
    .replace('<!--@SCRIPTS@-->', () => bodies.map((b) => `<script>${b}</script>`).join('\n'))
  if (/script-src[^;]*'unsafe-inline'/.test(html)) throw new Error("the page's CSP allows 'unsafe-inline' scripts")
  // write then rename: a reader (a test in another process) never sees half a page
  fs.mkdirSync(path.dirname(out), { recursive: true })
  const tmp = `${out}.${process.pid}.tmp`
  fs.writeFileSync(tmp, html)
  fs.renameSync(tmp, out)
  return { path: out, bytes: Buffer.byteLength(html) }
}

if (require.main === module) {
  try {
    const r = build(process.argv[2] ? path.resolve(process.argv[2]) : OUT)
    console.log(`${path.relative(process.cwd(), r.path)}: ${r.bytes} bytes`)
  } catch (err) {
    console.error(`build-web: ${err.message}`)
    process.exit(1)
  }
}

module.exports = { build, OUT }
