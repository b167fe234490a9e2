/*
 * reload-worker.js - the worker thread of js/reloader.js.
 *
 * For each job: a fresh instance of relay.wasm (the module comes compiled
 * from the main thread), the three texts loaded into it as UTF-8 bytes
 * (the two that stay first, the changed one last, as a reload in the main
 * thread would find them), and its memory sent back whole.  Nothing is
 * kept between jobs.
 */
'use strict'

const { parentPort } = require('node:worker_threads')

const { RelayCore, FILES } = require('./wasm-module')

parentPort.on('message', ({ id, module, index, texts }) => {
  try {
    const core = new RelayCore(module)
    let errors = 0
    for (const i of [0, 1, 2].filter((i) => i !== index).concat(index)) {
      const n = core.loadBytes(FILES[i], texts[i].map((b) => (b instanceof Uint8Array ? b : new Uint8Array(b))))
      if (i === index) errors = n
      else if (n < 0) errors = -1
      if (errors < 0) break
    }
    if (errors < 0) return parentPort.postMessage({ id, error: 'out of memory' })
    const image = core.image()
    parentPort.postMessage({ id, errors, image }, [image.memory])
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.message || err) })
  }
})
