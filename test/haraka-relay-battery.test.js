'use strict'
// The open-relay battery against relay-wasm in a real Haraka (one process):
// see test/lib/battery-suite.js for every case and why it is there. The
// same battery runs with nodes=2 in haraka-cluster.test.js.
//
//   node --test test/haraka-relay-battery.test.js

const { batterySuite } = require('./lib/battery-suite')

batterySuite({ nodes: 0 })
