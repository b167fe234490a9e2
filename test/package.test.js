'use strict'
// What a user of the npm package gets without cloning the repository:
//  - the validator page, built when the package is packed (prepack), and
//    `relay-check --page FILE` writing it, from a clone (built from the
//    sources) and from the unpacked package (its built copy);
//  - LICENSE matching package.json, and package-lock.json in step with it.

const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, before, describe, it } = require('node:test')

const REPO = path.resolve(__dirname, '..')
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'))
const WASM_B64 = fs.readFileSync(path.join(REPO, 'wasm', 'relay.wasm')).toString('base64')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

// a page as build-web.js writes it: one HTML file holding the module and
// the scripts, with its Content-Security-Policy
function assertIsPage(html, what) {
  assert.match(html, /^<!doctype html>/i, `${what} is an HTML document`)
  assert.match(html, /<meta http-equiv="Content-Security-Policy"/i, `${what} has its CSP`)
  assert.ok(html.includes(WASM_B64), `${what} holds wasm/relay.wasm`)
  assert.ok(html.includes(`${PKG.name} ${PKG.version}; relay.wasm `), `${what} names the package`)
  assert.doesNotMatch(html, /<script[^>]+src=/i, `${what} loads no script from elsewhere`)
}

function relayCheck(cli, args, cwd) {
  return spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 60000 })
}

describe('the validator page in the package', () => {
  let tmp
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-wasm-package-'))
  })
  after(() => fs.rmSync(tmp, { recursive: true, force: true }))

  it('relay-check --page FILE writes the page, from a clone', () => {
    const out = path.join(tmp, 'clone', 'page.html')
    const r = relayCheck(path.join(REPO, 'js', 'cli.js'), ['--page', out], tmp)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '')
    const html = fs.readFileSync(out, 'utf8')
    assertIsPage(html, 'the written page')
    assert.match(r.stdout, new RegExp(`^wrote the validator page to .*page\\.html \\(${Buffer.byteLength(html)} bytes\\)`))
  })

  it('relay-check --page fails with one line and status 2 when FILE cannot be written', () => {
    const r = relayCheck(path.join(REPO, 'js', 'cli.js'), ['--page', tmp], tmp)
    assert.equal(r.status, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^relay-check: cannot write the validator page to .*: it is a directory\n$/)
  })

  it('npm pack --dry-run --json lists the page (and LICENSE)', () => {
    const json = execFileSync(NPM, ['pack', '--dry-run', '--json'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const files = JSON.parse(json)[0].files.map((f) => f.path)
    assert.ok(files.includes('dist/relay-validator.html'), files.join(' '))
    assert.ok(files.includes('LICENSE'), files.join(' '))
    assert.ok(files.includes('js/page.js'), files.join(' '))
    assert.ok(!files.some((f) => f.startsWith('web/') || f.startsWith('scripts/')), 'the sources of the page are not shipped')
  })

  it('the packed package holds the page, and its relay-check --page writes it without web/', () => {
    const packDir = path.join(tmp, 'pack')
    fs.mkdirSync(packDir)
    const json = execFileSync(NPM, ['pack', '--json', '--pack-destination', packDir], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const tarball = path.join(packDir, JSON.parse(json)[0].filename)
    execFileSync('tar', ['-xzf', tarball, '-C', packDir])
    const unpacked = path.join(packDir, 'package')
    assert.ok(!fs.existsSync(path.join(unpacked, 'web')))
    assertIsPage(fs.readFileSync(path.join(unpacked, 'dist', 'relay-validator.html'), 'utf8'), 'the packed page')
    const out = path.join(tmp, 'from-package.html')
    const r = relayCheck(path.join(unpacked, PKG.bin['relay-check']), ['--page', out], tmp)
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(fs.readFileSync(out), fs.readFileSync(path.join(unpacked, 'dist', 'relay-validator.html')))
    // and without its page, it says so
    fs.rmSync(path.join(unpacked, 'dist'), { recursive: true })
    const missing = relayCheck(path.join(unpacked, PKG.bin['relay-check']), ['--page', out], tmp)
    assert.equal(missing.status, 2)
    assert.match(missing.stderr, /the validator page is not in this package/)
  })
})

describe('license and lock file', () => {
  it('LICENSE is the MIT license that package.json names', () => {
    assert.equal(PKG.license, 'MIT')
    const text = fs.readFileSync(path.join(REPO, 'LICENSE'), 'utf8')
    assert.match(text, /^MIT License\n\nCopyright \(c\) 2026 haraka-plugin-relay-wasm contributors\n/)
    assert.match(text, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/)
  })

  it('package-lock.json is in step with package.json', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8'))
    assert.equal(lock.name, PKG.name)
    assert.equal(lock.version, PKG.version)
    const root = lock.packages['']
    for (const key of ['name', 'version', 'license', 'bin', 'engines', 'dependencies', 'devDependencies']) {
      assert.deepEqual(root[key], PKG[key], `package-lock.json packages[""].${key}`)
    }
    for (const name of [...Object.keys(PKG.dependencies ?? {}), ...Object.keys(PKG.devDependencies ?? {})]) {
      assert.ok(lock.packages[`node_modules/${name}`], `${name} is locked`)
    }
  })
})
