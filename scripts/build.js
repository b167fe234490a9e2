/*
 * build.js - builds relay.wasm from src/ and puts it in wasm/.
 *
 *   node scripts/build.js            configure + build (preset wasm), copy to wasm/relay.wasm
 *   node scripts/build.js --check    build afresh in a temporary directory and fail
 *                                    when the committed wasm/relay.wasm differs
 *   node scripts/build.js --emscripten   the same sources with emcmake (build/emscripten)
 */
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { ensureTools, run, onPath } = require('./tools')

const ROOT = path.join(__dirname, '..')
const COMMITTED = path.join(ROOT, 'wasm', 'relay.wasm')
const MAX_SIZE = 64 * 1024

function buildWasm(binaryDir) {
  // always link afresh: the link step is where wasm-opt runs
  fs.rmSync(path.join(binaryDir, 'relay.wasm'), { force: true })
  run('cmake', ['--preset', 'wasm', '-B', binaryDir, '-Wno-dev'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  run('cmake', ['--build', binaryDir, '--target', 'relay', '-j', '2'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  const out = path.join(binaryDir, 'relay.wasm')
  const bytes = fs.readFileSync(out)
  checkModule(bytes)
  return bytes
}

/* The mutable globals of a module (its global section read directly). */
function mutableGlobals(bytes) {
  let p = 8 // magic and version
  const uleb = () => {
    let v = 0
    let shift = 0
    let b
    do {
      b = bytes[p++]
      v += (b & 0x7f) * 2 ** shift
      shift += 7
    } while (b & 0x80)
    return v
  }
  while (p < bytes.length) {
    const id = bytes[p++]
    const size = uleb()
    const end = p + size
    if (id === 6) {
      let mutable = 0
      for (let n = uleb(); n > 0; n--) {
        p++ // value type
        mutable += bytes[p++] === 1
        // the initializer: a constant or global.get, then `end`
        for (let op = bytes[p++]; op !== 0x0b; op = bytes[p++]) {
          if (op === 0x41 || op === 0x42 || op === 0x23) uleb()
          else if (op === 0x43) p += 4
          else if (op === 0x44) p += 8
        }
      }
      return mutable
    }
    p = end
  }
  return 0
}

/* The module must need nothing from its host, keep all its state in its
 * memory (js/reloader.js copies an instance by copying its memory: no
 * mutable global but the stack pointer, which is back at its start between
 * calls) and fit the budget. */
function checkModule(bytes) {
  const mod = new WebAssembly.Module(bytes)
  const imports = WebAssembly.Module.imports(mod)
  if (imports.length) {
    console.error(`relay.wasm imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}: it must import nothing`)
    process.exit(1)
  }
  const globals = mutableGlobals(bytes)
  if (globals > 1) {
    console.error(`relay.wasm has ${globals} mutable globals: only the stack pointer may change, the rest of its state must be in its memory`)
    process.exit(1)
  }
  if (bytes.length > MAX_SIZE) {
    console.error(`relay.wasm is ${bytes.length} bytes, over the ${MAX_SIZE}-byte budget`)
    process.exit(1)
  }
}

function main() {
  const args = process.argv.slice(2)
  if (args.includes('--emscripten')) {
    if (!onPath('emcmake')) {
      console.error('emcmake not found. Install Emscripten: apt-get install -y emscripten')
      process.exit(1)
    }
    run('emcmake', ['cmake', '--preset', 'emscripten'], { cwd: ROOT })
    run('cmake', ['--build', '--preset', 'emscripten'], { cwd: ROOT })
    const bytes = fs.readFileSync(path.join(ROOT, 'build', 'emscripten', 'relay.wasm'))
    console.log(`build/emscripten/relay.wasm: ${bytes.length} bytes`)
    return
  }
  ensureTools()
  if (args.includes('--check')) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-check-'))
    try {
      const fresh = buildWasm(dir)
      const committed = fs.existsSync(COMMITTED) ? fs.readFileSync(COMMITTED) : Buffer.alloc(0)
      if (!fresh.equals(committed)) {
        console.error(
          `wasm/relay.wasm is stale: a fresh build from src/ gives ${fresh.length} bytes that differ from ` +
            `the committed ${committed.length}. Run \`npm run build\` and commit wasm/relay.wasm.`,
        )
        process.exit(1)
      }
      console.log(`wasm/relay.wasm matches a fresh build (${fresh.length} bytes, no imports)`)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
    return
  }
  const bytes = buildWasm(path.join(ROOT, 'build', 'wasm'))
  fs.mkdirSync(path.dirname(COMMITTED), { recursive: true })
  fs.writeFileSync(COMMITTED, bytes)
  console.log(`wasm/relay.wasm: ${bytes.length} bytes`)
}

main()
