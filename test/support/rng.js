// A small seeded generator (xorshift32) for the randomised tests, so that a
// failure can be replayed with the same seed.
'use strict'

function rng(seed) {
  let s = seed >>> 0 || 1
  const next = () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
  next.int = (n) => Math.floor(next() * n)
  next.pick = (arr) => arr[next.int(arr.length)]
  return next
}

module.exports = { rng }
