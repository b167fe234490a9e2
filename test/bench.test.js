// The benchmark script runs (tiny sizes) so it cannot rot.  No timing is
// asserted: speed is judged by `npm run bench`, never by tests.
'use strict'

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { it } = require('node:test')

it('bench/run.js --quick runs every table', { timeout: 300000 }, () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'run.js'), '--quick'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  for (const title of ['ACL check per connection', 'rcpt decision', 'Subdomain keys', 'Load time of relay_acl_allow', 'Load time of relay_dest_domains.ini', 'Linear memory', 'Instructions per lookup', 'Whole server', 'The reloader alone', 'Reload under load']) {
    assert.ok(r.stdout.includes(title), `no table '${title}' in:\n${r.stdout}`)
  }
  // every row compares two measured figures
  assert.match(r.stdout, /IPv4 \| 100 \| hit \| [\d.]+ (ns|µs) \| [\d.]+ (ns|µs|ms) \| [\d.]+×/)
})
