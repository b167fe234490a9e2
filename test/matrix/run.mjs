// run.mjs - the conformance suite (suite.js, cases.json) in the runtime that
// runs this file: Node 18 and later, Bun, Deno (`deno run --allow-read`).
//
//   <runtime> test/matrix/run.mjs [path/to/relay.wasm]   (default: wasm/relay.wasm)
//
// The loader and the suite are read as text and evaluated with a module
// object of their own, so no runtime's module system is involved. Prints one
// line of JSON: { runtime, version, wasm, cases, checks, failures }; exits 1
// when anything failed.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..', '..')

function load(file) {
  const module = { exports: {} }
  new Function('module', 'exports', fs.readFileSync(file, 'utf8'))(module, module.exports)
  return module.exports
}

function runtime() {
  if (typeof Deno !== 'undefined') return { runtime: 'deno', version: Deno.version.deno }
  if (typeof Bun !== 'undefined') return { runtime: 'bun', version: Bun.version }
  return { runtime: 'node', version: process.versions.node }
}

const wasm = path.resolve(process.argv[2] || path.join(root, 'wasm', 'relay.wasm'))
const RelayWasm = load(path.join(root, 'js', 'wasm-module.js'))
const suite = load(path.join(here, 'suite.js'))
const cases = JSON.parse(fs.readFileSync(path.join(here, 'cases.json'), 'utf8'))
const started = Date.now()
const result = suite.run(RelayWasm, fs.readFileSync(wasm), cases)
const clip = (v) => (v === undefined ? v : JSON.stringify(v).slice(0, 600))
const failures = result.failures.slice(0, 5).map((f) => ({ ...f, expected: clip(f.expected), actual: clip(f.actual) }))
const out = { ...runtime(), wasm: path.relative(root, wasm), ms: Date.now() - started, ...result, failures, failed: result.failures.length }
console.log(JSON.stringify(out))
process.exit(result.failures.length ? 1 : 0)
