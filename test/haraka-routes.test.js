'use strict'
// Forced routes delivered for real by Haraka's outbound (one process): see
// test/lib/routes-suite.js. The same suite runs with nodes=2 in
// haraka-cluster.test.js.
//
//   node --test test/haraka-routes.test.js

const { routesSuite } = require('./lib/routes-suite')

routesSuite({ nodes: 0 })
