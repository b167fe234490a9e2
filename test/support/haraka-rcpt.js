// What Haraka 3.3 makes of `RCPT TO:<text>` before any rcpt hook runs, with
// Haraka's own code: haraka-utils' rfc1869 parser and @haraka/email-address
// (postel off, Haraka's default), as connection.js cmd_rcpt calls them.
//   harakaRcpt('u@BÜCHER.example') -> { code: null, host: 'xn--bcher-kva.example', address: Address }
//   harakaRcpt('u@good.example.')  -> { code: 501, message: 'Invalid RCPT TO address <u@good.example.>: ...' }
// The expectation of the Unicode-recipient tables in test/cli.test.js,
// test/validator-page.test.js and test/agree.test.js comes from here.
'use strict'

const path = require('node:path')

// the copies the installed Haraka itself loads, whatever npm hoisted
const fromHaraka = (name) => require(require.resolve(name, { paths: [path.dirname(require.resolve('Haraka/package.json'))] }))
const { Address } = fromHaraka('@haraka/email-address')
const { rfc1869, sanitize } = fromHaraka('haraka-utils')

const { rng } = require('./rng')

function harakaRcpt(text) {
  let raw
  try {
    raw = rfc1869.parse('rcpt', `TO:${text}`, false).shift()
  } catch (err) {
    return { code: 501, message: 'Command parsing failed', error: err.message }
  }
  try {
    const address = new Address(raw, { postel: false })
    return { code: null, host: address.host, address }
  } catch (err) {
    return { code: 501, message: `Invalid RCPT TO address ${sanitize(raw)}: ${err.message}` }
  }
}

// Recipient forms whose domain Haraka maps (UTS-46) or refuses: case,
// fullwidth letters, ideographic dots, combining marks, ignored code
// points, invalid IDNs, trailing dots, empty parts.
const UNICODE_RCPTS = [
  'u@bücher.example',
  'u@BÜCHER.example',
  'U@BÜCHER.EXAMPLE',
  'u@bu\u0308cher.example', // combining diaeresis: NFC makes it ü
  'u@xn--bcher-kva.example',
  'u@ｇｏｏｄ.example', // fullwidth letters
  'u@ｇｏｏｄ．ｅｘａｍｐｌｅ',
  'u@good。example', // U+3002 ideographic full stop
  'u@good．example', // U+FF0E fullwidth full stop
  'u@good｡example', // U+FF61 halfwidth ideographic full stop
  'u@GOOD。EXAMPLE',
  'u@goo\u00add.example', // soft hyphen: mapped to nothing
  'u@faß.example', // deviation character, kept (nontransitional)
  'u@☃.example',
  'u@Ⅸ.example', // compatibility mapping: ix.example
  'u@good.example',
  'u@GOOD.Example',
  'u@\u0301good.example', // a label that starts with a combining mark
  'u@xn--zz.exämple', // a broken A-label next to a U-label
  'u@xn--zz.example', // ASCII: handed on as it is
  'u@bücher.123', // ends in a number: not a host name to the URL parser
  'u@good\u200d.example', // ZERO WIDTH JOINER out of context
  'u@good.example.', // trailing dot: 501
  'u@good.example。', // trailing ideographic dot: passes, as good.example.
  'u@good..example',
  'u@.good.example',
  'u＠good.example', // a fullwidth @ is not an @
  'u@',
  '@good.example',
  '<>',
  'postmaster',
  '<u@[192.0.2.1]>',
]

// `count` RCPT TO arguments from seed: half of them strings of pieces that
// trip parsers (brackets, quotes, blanks, NUL, lone surrogates, a fullwidth
// @), half user@domain with labels of letters, IDN pieces, marks and
// ideographic dots; about half of all are refused by Haraka.
function randomRcpts(seed, count) {
  const r = rng(seed)
  const BITS = ['a', 'B', '0', '-', '.', '@', '<', '>', '"', '\\', ' ', '[', ']', ':', ',', 'ü', 'Ü', '。', '．', 'ｇ', '\u0301', '\u200d', 'ß', 'xn--', 'IPv6:', '255', ';', '\t', '\u0000', '%', '_', '1.2.3.4', '::1', 'postmaster', 'example', '\ud83d\ude00', '\ud800', '＠', 'SIZE=1']
  const LABEL_BITS = ['a', 'Ex', 'ü', 'Ü', 'ｇ', 'b0', 'xn--', 'ß', '\u0301', '-', '1', '\u00ad', 'Ⅸ', '☃']
  const DOTS = ['.', '.', '.', '。', '．', '｡']
  const out = []
  for (let n = 0; n < count; n++) {
    let s
    if (r() < 0.5) {
      s = Array.from({ length: r.int(14) }, () => r.pick(BITS)).join('')
      if (r() < 0.6) s += `@${Array.from({ length: r.int(6) }, () => r.pick(BITS)).join('')}`
    } else {
      const label = () => Array.from({ length: 1 + r.int(3) }, () => r.pick(LABEL_BITS)).join('')
      const labels = Array.from({ length: 1 + r.int(4) }, label)
      s = `${r.pick(['u', 'a.b', '"x y"', 'U'])}@${labels.map((l, i) => (i ? r.pick(DOTS) : '') + l).join('')}`
      if (r() < 0.3) s = `<${s}>`
    }
    out.push(s)
  }
  return out
}

module.exports = { harakaRcpt, randomRcpts, UNICODE_RCPTS }
