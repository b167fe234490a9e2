/*
 * engine.js - relay.wasm for Node: compiled once per process from the
 * committed wasm/relay.wasm, one instance per engine.
 *
 * For: index.js (the Haraka plugin), the CLI and the tests.
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const { RelayCore, RelayTrap, FILES } = require('./wasm-module')

// RELAY_WASM_MODULE names another build of the module: the tests use it for
// the build that traps on purpose (preset wasm-test-traps).  Unset, the
// committed wasm/relay.wasm is loaded.
const WASM_PATH = process.env.RELAY_WASM_MODULE || path.join(__dirname, '..', 'wasm', 'relay.wasm')
let compiled = null

function wasmModule() {
  if (!compiled) compiled = new WebAssembly.Module(fs.readFileSync(WASM_PATH))
  return compiled
}

/* A new engine: its own instance, all three files at their defaults. */
function createEngine() {
  return new RelayCore(wasmModule())
}

module.exports = { createEngine, RelayTrap, FILES, WASM_PATH }
