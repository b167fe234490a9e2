'use strict'
// How far an answer of relay_dest_domains.ini opens relaying, the lower the
// narrower (unlisted and deny both refuse): the order in which keys that
// name one domain with different meanings are merged (src/domains.c
// merge_duplicate), for the tests that check "never wider".
const RANK = Object.freeze({ deny: 0, unlisted: 0, invalid: 1, noaction: 2, continue: 3, accept: 4 })

module.exports = { RANK }
