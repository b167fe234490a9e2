'use strict'
// SMTP AUTH and TLS with relay-wasm in a real Haraka (one process): see
// test/lib/auth-suite.js. The same suite runs with nodes=2 in
// haraka-cluster.test.js.
//
//   node --test test/haraka-auth.test.js

const { authSuite } = require('./lib/auth-suite')

authSuite({ nodes: 0 })
