/*
 * matrix.js - `npm run test:matrix`: the committed wasm/relay.wasm through
 * one conformance suite (test/matrix: cases.json, suite.js) on every
 * runtime it is meant for, and the Emscripten build of the same sources
 * through the same suite.
 *
 *   Node 18, 20, 22, 24, 26   npm packages node-<platform>-<arch>@<major>
 *   Bun, Deno                 npm packages bun, deno
 *   Chromium                  /usr/bin/chromium (Debian) driven by playwright-core
 *   Emscripten build          node scripts/build.js --emscripten, run on this Node
 *
 * Runtimes are installed with npm into a cache outside the repo
 * (RELAY_MATRIX_CACHE, default ~/.cache/relay-wasm-matrix) on first use.
 *   node scripts/matrix.js [--only node18,bun,chromium,...] [--json FILE]
 */
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const CACHE = process.env.RELAY_MATRIX_CACHE || path.join(os.homedir(), '.cache', 'relay-wasm-matrix')
const RUN = path.join(ROOT, 'test', 'matrix', 'run.mjs')
const CHROMIUM = process.env.RELAY_CHROMIUM || '/usr/bin/chromium'
const NODE_MAJORS = [18, 20, 22, 24, 26]

/* npm install of one package into its own directory of the cache */
function npmInstall(dir, spec) {
  fs.mkdirSync(dir, { recursive: true })
  if (!fs.existsSync(path.join(dir, 'package.json'))) fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n')
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', spec], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (r.status !== 0) throw new Error(`npm install ${spec} failed (${r.status})`)
}

function ensureBin(name, spec, binPath) {
  const dir = path.join(CACHE, name)
  const bin = path.join(dir, binPath)
  if (!fs.existsSync(bin)) {
    console.log(`matrix: installing ${spec} into ${dir}`)
    npmInstall(dir, spec)
  }
  if (!fs.existsSync(bin)) throw new Error(`${spec} installed but ${bin} is missing`)
  return bin
}

function runSuite(label, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 300000 })
  const line = (r.stdout || '').trim().split('\n').pop()
  let out
  try {
    out = JSON.parse(line)
  } catch {
    out = { failed: 1, failures: [{ what: 'no result', actual: `${r.stdout || ''}${r.stderr || ''}`.slice(-2000) || String(r.error) }] }
  }
  return { label, ...out, ok: r.status === 0 && out.failed === 0 }
}

async function runChromium(wasmPath) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
  const { chromium } = require('playwright-core')
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-matrix-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  })
  try {
    const page = context.pages()[0] ?? (await context.newPage())
    await page.setContent('<!doctype html><title>relay.wasm conformance</title>')
    await page.addScriptTag({ content: fs.readFileSync(path.join(ROOT, 'js', 'wasm-module.js'), 'utf8') })
    await page.addScriptTag({ content: fs.readFileSync(path.join(ROOT, 'test', 'matrix', 'suite.js'), 'utf8') })
    const out = await page.evaluate(
      ({ b64, casesText }) => {
        const bin = atob(b64)
        const bytes = new Uint8Array(bin.length)
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
        const started = Date.now()
        const result = globalThis.RelaySuite.run(globalThis.RelayWasm, bytes, JSON.parse(casesText))
        const clip = (v) => (v === undefined ? v : JSON.stringify(v).slice(0, 600))
        const failures = result.failures.slice(0, 5).map((f) => ({ ...f, expected: clip(f.expected), actual: clip(f.actual) }))
        return { ms: Date.now() - started, ...result, failures, failed: result.failures.length }
      },
      { b64: fs.readFileSync(wasmPath).toString('base64'), casesText: fs.readFileSync(path.join(ROOT, 'test', 'matrix', 'cases.json'), 'utf8') },
    )
    return { label: 'chromium', runtime: 'chromium', version: context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent)), wasm: path.relative(ROOT, wasmPath), ...out, ok: out.failed === 0 }
  } finally {
    await context.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
}

function parseArgs(argv) {
  const all = [...NODE_MAJORS.map((m) => `node${m}`), 'bun', 'deno', 'chromium', 'emscripten']
  const opts = { only: all, json: null }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') opts.only = argv[++i].split(',')
    else if (argv[i] === '--json') opts.json = path.resolve(argv[++i])
    else throw new Error(`matrix.js: unknown argument ${argv[i]}`)
  }
  for (const o of opts.only) if (!all.includes(o)) throw new Error(`matrix.js: no target ${o} (${all.join(', ')})`)
  return opts
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const committed = path.join(ROOT, 'wasm', 'relay.wasm')
  const plat = `${process.platform}-${process.arch}`
  const results = []
  const attempt = async (label, fn) => {
    try {
      results.push(await fn())
    } catch (err) {
      results.push({ label, ok: false, failed: 1, failures: [{ what: 'setup', actual: String(err.message || err) }] })
    }
    const r = results[results.length - 1]
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${label.padEnd(10)} ${r.runtime ?? ''} ${r.version ?? ''}: ${r.cases ?? 0} cases, ${r.checks ?? 0} checks, ${r.failed ?? '?'} failed${r.ms != null ? `, ${r.ms} ms` : ''}`)
    if (!r.ok) console.log(JSON.stringify(r.failures, null, 2).slice(0, 4000))
  }

  // the table must be what make-cases.js writes from its independent sources
  // (test/support/reference.js, the fixtures, hand-reasoned entries), and the
  // committed wasm must pass it on this Node before the other runtimes run
  const check = spawnSync(process.execPath, [path.join(ROOT, 'test', 'matrix', 'make-cases.js'), '--check'], { cwd: ROOT, stdio: 'inherit' })
  if (check.status !== 0) process.exit(1)

  for (const major of NODE_MAJORS) {
    const label = `node${major}`
    if (!opts.only.includes(label)) continue
    await attempt(label, () => runSuite(label, ensureBin(label, `node-${plat}@${major}`, `node_modules/node-${plat}/bin/node`), [RUN, committed]))
  }
  if (opts.only.includes('bun')) {
    await attempt('bun', () => runSuite('bun', ensureBin('bun', 'bun@1', 'node_modules/bun/bin/bun.exe'), [RUN, committed]))
  }
  if (opts.only.includes('deno')) {
    await attempt('deno', () => runSuite('deno', ensureBin('deno', 'deno@2', 'node_modules/.bin/deno'), ['run', '--allow-read', RUN, committed]))
  }
  if (opts.only.includes('chromium')) await attempt('chromium', () => runChromium(committed))
  if (opts.only.includes('emscripten')) {
    await attempt('emscripten', () => {
      const b = spawnSync(process.execPath, [path.join(__dirname, 'build.js'), '--emscripten'], { cwd: ROOT, encoding: 'utf8' })
      if (b.status !== 0) throw new Error(`emscripten build failed:\n${(b.stdout || '') + (b.stderr || '')}`.slice(-3000))
      const r = runSuite('emscripten', process.execPath, [RUN, path.join(ROOT, 'build', 'emscripten', 'relay.wasm')])
      return { ...r, runtime: `emscripten build on node`, label: 'emscripten' }
    })
  }
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(results, null, 2) + '\n')
  const failed = results.filter((r) => !r.ok)
  console.log(`matrix: ${results.length - failed.length}/${results.length} passed`)
  if (failed.length) process.exit(1)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
