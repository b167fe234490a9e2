// The JS loader (js/wasm-module.js, js/engine.js, js/index.mjs): strings in,
// decisions and diagnostics out, instances independent, traps contained.
'use strict'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { describe, it } = require('node:test')

const { createEngine, RelayTrap, FILES, WASM_PATH } = require('../js/engine')

describe('loader', () => {
  it('starts with the defaults of the manual', () => {
    const e = createEngine()
    assert.deepEqual(e.settings(), { acl: true, force_routing: false, dest_domains: false, all: false })
    assert.equal(e.aclMatch('127.0.0.1'), null)
    assert.deepEqual(e.rcpt('example.com'), { action: 'unlisted', line: 0 })
    assert.deepEqual(e.route('example.com'), { status: 'mx' })
    assert.deepEqual(e.diagnostics(), [])
  })

  it('the module imports nothing and fits 64 KiB', () => {
    const bytes = fs.readFileSync(WASM_PATH)
    assert.ok(bytes.length <= 64 * 1024, `${bytes.length} bytes`)
    const mod = new WebAssembly.Module(bytes)
    assert.deepEqual(WebAssembly.Module.imports(mod), [])
  })

  it('answers ACL questions with the line that matched', () => {
    const e = createEngine()
    assert.equal(e.load('relay_acl_allow', '# office\n192.0.2.0/24\n2001:db8::/48\n'), 0)
    assert.deepEqual(e.aclMatch('192.0.2.44'), { line: 2 })
    assert.deepEqual(e.aclMatch('::ffff:192.0.2.44'), { line: 2 })
    assert.deepEqual(e.aclMatch('2001:db8:0:1::5'), { line: 3 })
    assert.equal(e.aclMatch('2001:db8:1::5'), null)
    for (const junk of ['', 'localhost', '192.0.2.44/32', null, undefined, 42, 'ü'.repeat(10), 'x'.repeat(1000)]) {
      assert.equal(e.aclMatch(junk), null, String(junk))
    }
  })

  it('reports diagnostics with file, line, column, severity and code', () => {
    const e = createEngine()
    assert.equal(e.load('relay_acl_allow', '192.0.2.0/24\n  300.1.1.1\n'), 1)
    assert.deepEqual(e.diagnostics(), [
      {
        file: 'relay_acl_allow',
        line: 2,
        column: 3,
        severity: 'error',
        code: 'acl-bad-address',
        message: "'300.1.1.1' is not an IP address: IPv4 part over 255; entry ignored",
      },
    ])
  })

  it('passes non-ASCII text through intact', () => {
    const e = createEngine()
    e.load('relay_dest_domains.ini', '[domains]\nbücher.example = { "action": "accept" }\n')
    assert.equal(e.rcpt('bücher.example').action, 'unlisted')
    const d = e.diagnostics().find((x) => x.code === 'ini-invalid-line')
    assert.ok(d, 'a key with non-ASCII letters is not a Haraka key')
    assert.equal(d.line, 2)
  })

  it('keeps instances apart', () => {
    const a = createEngine()
    const b = createEngine()
    a.load('relay_acl_allow', '192.0.2.1')
    assert.deepEqual(a.aclMatch('192.0.2.1'), { line: 1 })
    assert.equal(b.aclMatch('192.0.2.1'), null)
  })

  it('rejects unknown file names', () => {
    assert.throws(() => createEngine().load('relay.conf', ''), TypeError)
    assert.deepEqual(FILES, ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini'])
  })

  it('turns a trap into RelayTrap and recovers with the last texts', () => {
    const e = createEngine()
    e.load('relay_acl_allow', '192.0.2.1\n')
    // Corrupt the instance the way a bug would: a call that traps.
    const real = e.exports.relay_acl
    e.exports = { ...e.exports, relay_acl: () => { throw new WebAssembly.RuntimeError('unreachable') } }
    assert.throws(() => e.aclMatch('192.0.2.1'), RelayTrap)
    assert.equal(e.broken, true)
    // the next call gets a fresh instance with relay_acl_allow reloaded
    assert.deepEqual(e.aclMatch('192.0.2.1'), { line: 1 })
    assert.notEqual(e.exports.relay_acl, real)
  })

  it('reuses its buffers: a million ACL questions do not grow memory', () => {
    const e = createEngine()
    e.load('relay_acl_allow', '10.0.0.0/8\n')
    e.aclMatch('10.1.2.3')
    const before = e.exports.memory.buffer.byteLength
    for (let i = 0; i < 1e6; i++) e.aclMatch(`10.${i & 255}.${(i >> 8) & 255}.1`)
    assert.equal(e.exports.memory.buffer.byteLength, before)
  })

  it('loads the same module as an ES module', async () => {
    const { compileRelay } = await import(path.join(__dirname, '..', 'js', 'index.mjs'))
    const core = await compileRelay(fs.readFileSync(WASM_PATH))
    core.load('relay.ini', '[relay]\nall=true\n')
    assert.equal(core.settings().all, true)
    assert.equal(core.diagnostics()[0].code, 'open-relay')
  })
})

describe('a fresh instance that cannot take back the texts in force', () => {
  it('is never used with a file missing: every call fails until the texts are back', () => {
    const e = createEngine()
    e.load('relay.ini', '[relay]\nacl=false\n')
    assert.equal(e.settings().acl, false)
    // the module out of memory while a fresh instance reloads the texts
    // (as after a trap); without relay.ini it would answer acl=true
    e._loadText = () => -1
    assert.throws(() => e.reset(), RelayTrap)
    assert.throws(() => e.settings(), RelayTrap)
    assert.throws(() => e.aclMatch('192.0.2.1'), RelayTrap)
    delete e._loadText // memory again
    assert.equal(e.settings().acl, false)
  })
})
