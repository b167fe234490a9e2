'use strict'
// relay-check run as a user runs it (a child process of this Node), for the
// tests of its options: check(args) -> { status, stdout, stderr, lines },
// json(args) the same with `--format json` and the parsed document.
// GITHUB_WORKSPACE is emptied so that paths print as given.

const path = require('node:path')
const { spawnSync } = require('node:child_process')

const CLI = path.join(__dirname, '..', '..', 'js', 'cli.js')

function relayCheck(defaultCwd) {
  function check(args, { cwd = defaultCwd, env = {} } = {}) {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, GITHUB_WORKSPACE: '', ...env },
    })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stdout.split('\n').filter(Boolean) }
  }
  const json = (args, opts) => {
    const r = check([...args, '--format', 'json'], opts)
    return { ...r, doc: JSON.parse(r.stdout) }
  }
  return { check, json }
}

module.exports = { relayCheck, CLI }
