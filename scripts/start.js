#!/usr/bin/env node
'use strict'
// npm start: a demo relay. Builds a Haraka runtime directory in ./.haraka-run
// and runs Haraka in the foreground with relay-wasm loaded from this repo and
// a queue that delivers nowhere (queue/discard).
//
// The three relay files are read live from this repo's ./config: the runtime
// config/ holds none of them, so Haraka falls back to the plugin's own
// config/ directory, which is ./config through the node_modules symlink, and
// watches that directory. (Symlinking the files into the runtime config/
// would not be live on Linux: Haraka watches the directory holding the link,
// and editing the link's target raises no event there.)
//
//   RELAY_WASM_LISTEN=127.0.0.1:2526 npm start    (default 127.0.0.1:2525)

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const REPO = path.resolve(__dirname, '..')
const RUN = path.join(REPO, '.haraka-run')
const LIVE = path.join(REPO, 'config')
const HARAKA_DIR = path.dirname(require.resolve('Haraka/package.json'))
const LISTEN = process.env.RELAY_WASM_LISTEN || '127.0.0.1:2525'
const RELAY_FILES = ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']

const cfg = path.join(RUN, 'config')
fs.mkdirSync(cfg, { recursive: true })
fs.mkdirSync(path.join(RUN, 'node_modules'), { recursive: true })

const link = path.join(RUN, 'node_modules', 'haraka-plugin-relay-wasm')
fs.rmSync(link, { force: true, recursive: true })
fs.symlinkSync(REPO, link, 'dir')

// left over from an older layout: they would shadow ./config
for (const f of RELAY_FILES) fs.rmSync(path.join(cfg, f), { force: true })

fs.copyFileSync(path.join(HARAKA_DIR, 'config', 'connection.ini'), path.join(cfg, 'connection.ini'))
const files = {
  'smtp.ini': `; written by scripts/start.js\n[main]\nlisten=${LISTEN}\nnodes=0\n`,
  plugins: '# written by scripts/start.js\nrelay-wasm\nqueue/discard\n',
  'log.ini': '[main]\nlevel=info\n',
  me: 'relay-wasm.demo\n',
}
for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(cfg, name), text)

console.log(`relay-wasm demo: Haraka listening on ${LISTEN}, live relay config in ${LIVE} (runtime dir ${RUN});` +
  ` accepted mail is discarded. No client relays until you list it in ${path.join(LIVE, 'relay_acl_allow')}.`)

const haraka = spawn(process.execPath, [path.join(HARAKA_DIR, 'bin', 'haraka'), '-c', RUN], {
  cwd: RUN,
  stdio: 'inherit',
  // queue/discard discards only when told to: the demo delivers nowhere
  env: { ...process.env, YES_REALLY_DO_DISCARD: '1' },
})
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => haraka.kill(sig))
}
haraka.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 128 : 1)
})
