'use strict'
// relay.wasm with a smaller memory: the same code, data and exports, with
// the maximum of its one memory (the memory section, id 5) set to `pages`
// of 64 KiB.  Its instances get a real WebAssembly.Memory with that
// maximum: memory.grow past it fails inside the module (malloc returns
// NULL), as it would at 4 GiB.  For tests that drive the real module into a
// real out-of-memory (test/oom.test.js); never shipped.
//
//   cappedWasm(bytes, pages) -> Buffer   throws when the module has no memory section

function readU32(bytes, at) {
  let value = 0
  let shift = 0
  for (;;) {
    const b = bytes[at++]
    value += (b & 0x7f) * 2 ** shift
    shift += 7
    if (!(b & 0x80)) return { value, at }
  }
}

function u32(value) {
  const out = []
  do {
    let b = value & 0x7f
    value = Math.floor(value / 128)
    if (value) b |= 0x80
    out.push(b)
  } while (value)
  return out
}

function cappedWasm(bytes, pages) {
  bytes = Buffer.from(bytes)
  if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error('not a WebAssembly module')
  let at = 8
  while (at < bytes.length) {
    const id = bytes[at]
    const size = readU32(bytes, at + 1)
    const start = size.at
    const end = start + size.value
    if (id === 5) {
      // vec(limits): one memory; limits = 0x00 min | 0x01 min max
      const count = readU32(bytes, start)
      if (count.value !== 1) throw new Error(`${count.value} memories`)
      const flags = bytes[count.at]
      const min = readU32(bytes, count.at + 1)
      if (flags !== 0 && flags !== 1) throw new Error(`memory limits flags ${flags}`)
      if (pages < min.value) throw new Error(`maximum ${pages} is below the module's minimum ${min.value}`)
      const body = Buffer.from([...u32(1), 0x01, ...u32(min.value), ...u32(pages)])
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([5, ...u32(body.length)]), body, bytes.subarray(end)])
    }
    at = end
  }
  throw new Error('no memory section')
}

module.exports = { cappedWasm }
