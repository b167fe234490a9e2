/*
 * test.js - `npm test`: everything a clean clone must pass.
 *
 *  1. machine tools (installed with apt-get when run as root, else the
 *     command to run is printed) and node_modules (npm ci when missing);
 *  2. wasm/relay.wasm equals a fresh build of src/ (no imports, <= 64 KiB);
 *  3. the C tests under ASan + UBSan (ctest, preset native);
 *  4. each libFuzzer target of test/fuzz for a few seconds (preset fuzz), its
 *     seed corpus and regression inputs first (RELAY_FUZZ_SECONDS, default 12);
 *  5. the matrix: the conformance suite of test/matrix on Node 18-26, Bun,
 *     Deno, Chromium and the Emscripten build (scripts/matrix.js);
 *  6. the node:test suites in test/ (loader, plugin, differential, bad
 *     configs, parity, a real Haraka), last, so the run ends on their counts.
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const { ensureTools, run } = require('./tools')

const ROOT = path.join(__dirname, '..')

function ensureNodeModules() {
  const need = ['Haraka', 'haraka-plugin-relay', 'haraka-plugin-qmail-deliverable', 'address-rfc2821', 'haraka-test-fixtures', 'ipaddr.js', 'haraka-config', 'playwright-core', 'smtp-server']
  if (need.every((m) => fs.existsSync(path.join(ROOT, 'node_modules', m, 'package.json')))) return
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT })
}

ensureTools()
ensureNodeModules()
run(process.execPath, [path.join(__dirname, 'build.js'), '--check'], { cwd: ROOT })
const native = path.join(ROOT, 'build', 'native')
run('cmake', ['--preset', 'native', '-Wno-dev'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
run('cmake', ['--build', native, '-j', '2'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
run('ctest', ['--preset', 'native'], { cwd: ROOT })
run(process.execPath, [path.join(__dirname, 'fuzz.js'), '--time', process.env.RELAY_FUZZ_SECONDS || '12'], { cwd: ROOT })
run(process.execPath, [path.join(__dirname, 'matrix.js')], { cwd: ROOT })
const suites = fs
  .readdirSync(path.join(ROOT, 'test'))
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => path.join('test', f))
run(process.execPath, ['--test', '--test-concurrency=1', ...suites], { cwd: ROOT })
