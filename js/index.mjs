/*
 * index.mjs - relay.wasm as an ES module, for browsers and ESM code.
 *
 *   import { compileRelay } from './js/index.mjs'
 *   const core = await compileRelay(await (await fetch('relay.wasm')).arrayBuffer())
 *   core.load('relay_acl_allow', text); core.aclMatch('192.0.2.1')
 *
 * wasm-module.js is plain script that also sets globalThis.RelayWasm when
 * there is no CommonJS `module`, so this wrapper works in both worlds.
 */
import * as loaded from './wasm-module.js'

const api = loaded.default ?? globalThis.RelayWasm

export const { RelayCore, RelayTrap, FILES } = api

/* Compiles relay.wasm bytes (ArrayBuffer or typed array) into a RelayCore. */
export async function compileRelay(bytes) {
  return new RelayCore(await WebAssembly.compile(bytes))
}
