/*
 * tools.js - the machine tools the build and the tests need, and getting them.
 *
 * For: scripts/build.js and scripts/test.js.  On Debian, as root, missing
 * packages are installed with apt-get; otherwise the exact command to run
 * is printed and the script stops.  Nothing is skipped for want of a tool.
 */
'use strict'

const fs = require('node:fs')
const { execFileSync, spawnSync } = require('node:child_process')

/* [package, how to tell it is there] */
const DEBIAN_PACKAGES = [
  ['cmake', () => onPath('cmake')],
  ['make', () => onPath('make')],
  ['clang', () => onPath('clang')],
  ['lld', () => onPath('wasm-ld') || onPath('wasm-ld-14')],
  ['llvm', () => onPath('llvm-ar') || onPath('llvm-ar-14')],
  // clang runs wasm-opt on the linked module whenever it is on PATH, so the
  // bytes of relay.wasm depend on it: require it, and the build is the same
  // on every machine of this kind.
  ['binaryen', () => onPath('wasm-opt')],
  ['wasi-libc', () => fs.existsSync('/usr/lib/wasm32-wasi/libc.a')],
  ['libclang-rt-14-dev-wasm32', () => hasWasmBuiltins()],
  ['libclang-rt-14-dev', () => hasAsanRuntime() && hasLibFuzzer()], // libFuzzer: scripts/fuzz.js
  ['valgrind', () => onPath('valgrind')], // the instruction counts of bench/run.js
  ['chromium', () => fs.existsSync('/usr/bin/chromium')], // the validator page's browser test; the matrix (scripts/matrix.js)
  ['openssl', () => onPath('openssl')], // throw-away TLS certificates of the Haraka tests
  ['emscripten', () => onPath('emcmake')], // the Emscripten build of the matrix (scripts/matrix.js)
]

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

function clangResourceDir() {
  try {
    return execFileSync('clang', ['-print-resource-dir'], { encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

function hasWasmBuiltins() {
  const dir = clangResourceDir()
  return !!dir && fs.existsSync(`${dir}/lib/wasi/libclang_rt.builtins-wasm32.a`)
}

function hasAsanRuntime() {
  /* the native C tests build with gcc's or clang's sanitizers; gcc ships its own */
  return onPath('gcc') || fs.existsSync(`${clangResourceDir()}/lib/linux`)
}

/* clang's libFuzzer, for the fuzz targets (test/fuzz, preset fuzz) */
function hasLibFuzzer() {
  const dir = `${clangResourceDir()}/lib/linux`
  try {
    return fs.readdirSync(dir).some((f) => /^libclang_rt\.fuzzer-[^.]+\.a$/.test(f))
  } catch {
    return false
  }
}

function missingPackages() {
  if (process.env.WASI_SDK_PATH) return DEBIAN_PACKAGES.filter(([p, ok]) => !['clang', 'lld', 'llvm', 'wasi-libc', 'libclang-rt-14-dev-wasm32'].includes(p) && !ok()).map(([p]) => p)
  return DEBIAN_PACKAGES.filter(([, ok]) => !ok()).map(([p]) => p)
}

/* Installs what is missing, or exits with the command that would. */
function ensureTools() {
  const missing = missingPackages()
  if (!missing.length) return
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot || !onPath('apt-get')) {
    console.error(`Missing build tools: ${missing.join(', ')}.\nInstall them with:\n  sudo sh -c '${cmd}'`)
    process.exit(1)
  }
  console.log(`installing: ${missing.join(' ')}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...missing]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (r.status !== 0) {
      console.error(`apt-get ${args.join(' ')} failed; run it by hand:\n  ${cmd}`)
      process.exit(1)
    }
  }
  const still = missingPackages()
  if (still.length) {
    console.error(`still missing after apt-get: ${still.join(', ')}`)
    process.exit(1)
  }
}

/* Runs a command, streaming its output; exits on failure. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts })
  if (r.status !== 0) {
    console.error(`failed (${r.status ?? r.signal}): ${cmd} ${args.join(' ')}`)
    process.exit(r.status || 1)
  }
}

module.exports = { ensureTools, run, onPath }
