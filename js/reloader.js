/*
 * reloader.js - a big config file reloaded without stalling Haraka (issue 12).
 *
 * For: index.js (load_relay_file), bench/ and the tests.
 *
 * Loading a 50 MB relay_dest_domains.ini takes the module a few hundred
 * milliseconds; done on Haraka's event loop, every session would wait
 * that long.  So a text of MIN_CHARS or more is loaded elsewhere:
 *
 *   1. here, in slices between other work: the three texts (the new one,
 *      and the two in force) are encoded to UTF-8 into buffers that are
 *      handed (not copied) to a worker thread (js/reload-worker.js);
 *   2. there: a fresh instance of relay.wasm loads them, the parsing,
 *      sorting and indexing all done on the other core, and its memory is
 *      handed back whole;
 *   3. here, in slices again: a fresh instance of the module is given a
 *      copy of that memory (RelayCore.prepare / step; an instance's whole
 *      state is its memory, see js/wasm-module.js), and `done` is called;
 *   4. the caller's engine.load(file, text) then swaps instances in O(1)
 *      (RelayCore.load sees the ready instance for exactly this text).
 *
 * Until then the old text stays in force, as it does while Haraka waits
 * for a file to settle.  Every answer and diagnostic is the module's own
 * for the same texts (test/reloader.test.js), and the instance that did
 * the parsing held only this load: the old state and the new are never in
 * one memory.  A newer text for the same file cancels a job under way; a
 * job whose other texts changed meanwhile is made again when it is
 * loaded; a failure (the worker, memory) makes the next load of that text
 * an ordinary one.
 *
 * A text is a string, or a file's bytes that are UTF-8 throughout
 * (index.js rereads a big file into a SharedArrayBuffer and never decodes
 * it here: the worker reads those bytes where they are).
 *
 *   defer(engine, file, text, done) -> true when the load was taken over:
 *     done(err) is called later, and engine.load(file, text) then puts it
 *     in force at once (after an error, loads it as ever); false when the
 *     caller should load now (a small text, one already made ready, or
 *     one whose preparation failed).
 */
'use strict'

const path = require('node:path')

const { FILES } = require('./wasm-module')

const settings = {
  minChars: 1 << 20, // texts shorter than this are loaded at once (a millisecond or two)
  sliceChars: 2 << 20, // string encoded per turn of the event loop (about 1 ms)
  sliceBytes: 1 << 20, // memory copied per turn of the event loop (about 1 ms)
}

const encoder = new TextEncoder()
const states = new WeakMap() // engine -> { jobs: [job of each file], failed: [text that failed, of each file] }
let worker = null
let nextId = 1
const waiting = new Map() // job id -> { resolve, reject }

const turn = () => new Promise((resolve) => setImmediate(resolve))

function getWorker() {
  if (worker) return worker
  const { Worker } = require('node:worker_threads')
  worker = new Worker(path.join(__dirname, 'reload-worker.js'))
  worker.on('message', (msg) => {
    const w = waiting.get(msg.id)
    waiting.delete(msg.id)
    if (!waiting.size) worker.unref() // idle: it never keeps the process alive
    if (w) msg.error ? w.reject(new Error(`reload worker: ${msg.error}`)) : w.resolve(msg)
  })
  const fail = (err) => {
    worker = null
    for (const w of waiting.values()) w.reject(err)
    waiting.clear()
  }
  worker.on('error', fail)
  worker.on('exit', (code) => fail(new Error(`reload worker exited (${code})`)))
  return worker
}

/* text as UTF-8 (the bytes RelayCore.load would give the module), in
 * pieces of a few MB, one per turn; job.cancelled stops it. */
async function encodeSliced(text, job) {
  const pieces = []
  for (let read = 0; read < text.length; ) {
    let end = Math.min(text.length, read + settings.sliceChars)
    const c = text.charCodeAt(end - 1)
    if (end < text.length && c >= 0xd800 && c <= 0xdbff) end-- // never split a surrogate pair
    const part = text.substring(read, end)
    const bytes = new Uint8Array(Buffer.byteLength(part, 'utf8'))
    encoder.encodeInto(part, bytes)
    pieces.push(bytes.buffer)
    read = end
    if (read < text.length) await turn()
    if (job.cancelled) return null
  }
  return pieces
}

/* bytes a worker can read: shared memory as it is (index.js reads a big
 * file into a SharedArrayBuffer), other bytes copied in slices. */
async function bytesFor(bytes, job) {
  if (bytes.buffer instanceof SharedArrayBuffer) return [bytes]
  const copy = new Uint8Array(bytes.length)
  for (let at = 0; at < bytes.length; at += settings.sliceBytes) {
    copy.set(bytes.subarray(at, at + settings.sliceBytes), at)
    if (at + settings.sliceBytes < bytes.length) await turn()
    if (job.cancelled) return null
  }
  return [copy.buffer]
}

async function run(engine, job) {
  const texts = []
  for (const t of job.texts) {
    const pieces = t instanceof Uint8Array ? await bytesFor(t, job) : await encodeSliced(t, job)
    if (!pieces) return
    texts.push(pieces)
  }
  const id = nextId++
  const reply = await new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject })
    const w = getWorker()
    w.ref() // a job under way: wait for it
    const moved = texts.flat().filter((b) => b instanceof ArrayBuffer) // shared memory is shared, not moved
    w.postMessage({ id, module: engine.module, index: job.index, texts }, moved)
  })
  if (job.cancelled) return
  const ready = engine.prepare(FILES[job.index], job.text, job.texts, reply.errors, reply.image)
  while (!ready.step(settings.sliceBytes)) {
    await turn()
    if (job.cancelled) return
  }
}

function defer(engine, file, text, done) {
  const index = FILES.indexOf(file)
  if (index < 0 || !(typeof text === 'string' || text instanceof Uint8Array) || text.length < settings.minChars) return false
  if (engine.isReady(file, text)) return false
  let state = states.get(engine)
  if (!state) states.set(engine, (state = { jobs: [null, null, null], failed: [null, null, null] }))
  if (state.failed[index] === text) return false
  const current = state.jobs[index]
  if (current && current.text === text) {
    current.done = done // the same load asked again: one answer, to the last asker
    return true
  }
  if (current) current.cancelled = true // a newer text of the file
  const texts = engine.texts.slice()
  texts[index] = text
  const job = { index, text, texts, done, cancelled: false }
  state.jobs[index] = job
  const end = (err) => {
    if (state.jobs[index] === job) state.jobs[index] = null
    if (job.cancelled) return
    if (err) state.failed[index] = text
    job.done(err || null)
  }
  run(engine, job).then(() => end(), end)
  return true
}

module.exports = { defer, settings }
