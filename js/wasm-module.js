/*
 * wasm-module.js - the one place where JS talks to relay.wasm.
 *
 * For: js/engine.js (Node, CommonJS), js/index.mjs (browsers and ESM), the
 * CLI and the validator page.  It needs nothing but WebAssembly,
 * TextEncoder and TextDecoder, so the same file runs in every Node version
 * and in a browser.  It turns the module's exports (see src/exports.c) into
 * plain objects: text goes in, decisions and diagnostics come out.
 */
'use strict'
;(function (root, factory) {
  const api = factory()
  if (typeof module === 'object' && module.exports) module.exports = api
  else root.RelayWasm = api
})(typeof globalThis === 'object' ? globalThis : this, function () {
  /* The names of the three files, needed before any module is compiled
   * (index.js, the CLI and the page lay themselves out by them).  The
   * enums, the relay.ini switches with their defaults and the packing of
   * answers are not copied here: each compiled module describes them
   * (relay_abi in src/exports.c, read by describe() below), and describe()
   * refuses a module whose files are not these. */
  const FILES = ['relay.ini', 'relay_acl_allow', 'relay_dest_domains.ini']
  /* relay.wasm from wasi-libc imports nothing.  The Emscripten build of the
   * same sources asks for one notification when memory grows; the loader
   * refetches the memory view on every call anyway, so it needs no action. */
  const IMPORTS = { env: { emscripten_notify_memory_growth() {} } }
  const SHORT_INPUT = 1024 /* bytes of input buffer kept for questions */
  const UNLISTED = Object.freeze({ action: 'unlisted', line: 0 })
  const NOT_ADDRESS = Object.freeze({ address: false, line: 0 })
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()

  /* The module trapped (a bug, or memory exhausted): this instance is gone. */
  class RelayTrap extends Error {
    constructor(message, cause) {
      super(message)
      this.name = 'RelayTrap'
      this.cause = cause
    }
  }

  function deepFreeze(value) {
    if (value && typeof value === 'object') {
      for (const v of Object.values(value)) deepFreeze(v)
      Object.freeze(value)
    }
    return value
  }

  /* What a compiled relay.wasm says of its boundary (relay_abi): asked of
   * its first instance, kept per module.
   *   raw: the module's JSON as it is (C names, values, JS names);
   *   files, severities, actions, routes: names by value;
   *   settings: [{ name, bit, default }]; defaults: { name: default };
   *   notAddress: relay_acl's answer for a text that is no address;
   *   lineShift, actionMask, routeMask, viaAny: the packed answers. */
  const described = new WeakMap()
  function describe(module, exports) {
    let d = described.get(module)
    if (d) return d
    const len = exports.relay_abi ? exports.relay_abi() : 0
    if (!len) throw new RelayTrap('relay.wasm does not describe its boundary (relay_abi): a build older than this loader, or out of memory')
    const ptr = exports.relay_output()
    const raw = JSON.parse(decoder.decode(new Uint8Array(exports.memory.buffer, ptr, len)))
    const byValue = (list) => {
      const out = []
      for (const e of list) out[e.value] = e.name
      return out
    }
    const p = raw.packing
    d = deepFreeze({
      raw,
      files: byValue(raw.files),
      severities: byValue(raw.severities),
      actions: byValue(raw.actions),
      routes: byValue(raw.routes),
      settings: raw.settings.map((s) => ({ name: s.name, bit: s.bit, default: s.default })),
      defaults: Object.fromEntries(raw.settings.map((s) => [s.name, s.default])),
      notAddress: raw.acl.find((a) => a.name === 'not-address').value,
      lineShift: p.line_shift,
      actionMask: p.action_mask,
      routeMask: p.route_mask,
      viaAny: p.via_any,
    })
    if (d.files.join('\n') !== FILES.join('\n')) {
      throw new TypeError(`relay.wasm names its files ${d.files.join(', ')}, not ${FILES.join(', ')}: the module and js/wasm-module.js are of different versions`)
    }
    described.set(module, d)
    return d
  }

  function fileIndex(file) {
    const i = FILES.indexOf(file)
    if (i < 0) throw new TypeError(`unknown relay config file '${file}' (one of ${FILES.join(', ')})`)
    return i
  }

  class RelayCore {
    /* module: a compiled WebAssembly.Module of relay.wasm. */
    constructor(module) {
      this.module = module
      this.texts = ['', '', '']
      this.notes = [[], [], []] // diagnostics found before the module, per file
      this._start()
    }

    _start() {
      this._ready = null
      // broken until every text in force is back in: a start that fails half
      // way (memory) must not answer with some of the files missing
      this.broken = true
      const instance = new WebAssembly.Instance(this.module, IMPORTS)
      this.exports = instance.exports
      this._u8 = new Uint8Array(this.exports.memory.buffer)
      if (this.exports._initialize) this.exports._initialize()
      this.abi = describe(this.module, this.exports)
      this.cfg = this.exports.relay_new()
      if (!this.cfg) throw new RelayTrap('relay.wasm: out of memory at start')
      this._settings = null
      for (let i = 0; i < FILES.length; i++) {
        if (this.texts[i].length && this._loadText(i, this.texts[i]) < 0) {
          throw new RelayTrap(`relay.wasm: out of memory loading ${FILES[i]} into a fresh instance`)
        }
      }
      this._reserveInput()
      this.broken = false
    }

    /* The input buffer for short strings, asked for once: a question then
     * costs one call into the module, not two. */
    _reserveInput() {
      this.inCap = SHORT_INPUT
      this.inPtr = this.exports.relay_input(SHORT_INPUT)
      if (!this.inPtr) throw new RelayTrap('relay.wasm: out of memory at start')
    }

    _trap(err) {
      if (err instanceof RelayTrap || err instanceof WebAssembly.RuntimeError || err instanceof RangeError) {
        this.broken = true
        return err instanceof RelayTrap ? err : new RelayTrap(`relay.wasm trapped: ${err.message}`, err)
      }
      return err
    }

    /* A fresh instance with the last text of each file. */
    reset() {
      this._start()
    }

    /* A view of the module's memory.  Growing the memory detaches the old
     * buffer (its views read as empty), which is the cue to look again:
     * cheaper than asking for memory.buffer on every call. */
    _bytes() {
      if (this._u8.byteLength === 0) this._u8 = new Uint8Array(this.exports.memory.buffer)
      return this._u8
    }

    /* Runs fn against the instance; a trap marks it broken and is rethrown
     * as RelayTrap.  A broken instance is replaced before the next call. */
    _call(fn) {
      if (this.broken) this._start()
      try {
        return fn(this.exports)
      } catch (err) {
        throw this._trap(err)
      }
    }

    /* Puts a short string (an address, a domain) into the input buffer and
     * returns its length in bytes. */
    _putShort(e, str) {
      const n = str.length
      if (n * 3 > this.inCap) {
        this.inPtr = e.relay_input(n * 3)
        if (!this.inPtr) throw new RelayTrap('relay.wasm: out of memory')
        this.inCap = n * 3
      }
      const ptr = this.inPtr
      const u8 = this._bytes()
      for (let i = 0; i < n; i++) {
        const c = str.charCodeAt(i)
        if (c > 127) return encoder.encodeInto(str, u8.subarray(ptr, ptr + n * 3)).written
        u8[ptr + i] = c
      }
      return n
    }

    /* Loads `text` (a string, or bytes that are UTF-8) as file `index`:
     * its errors, or -1 when memory ran out. */
    _loadText(index, text) {
      if (text instanceof Uint8Array) return this._loadUtf8(index, [text])
      // ASCII text (nearly every config) is encoded straight into the
      // module's memory: its UTF-8 is as long as the string, and encodeInto
      // reads it whole.  Otherwise the UTF-8 is longer: encode, then copy.
      const ptr = this.exports.relay_input(text.length)
      if (!ptr) return -1
      if (encoder.encodeInto(text, this._bytes().subarray(ptr, ptr + text.length)).read !== text.length) {
        return this._loadUtf8(index, [encoder.encode(text)])
      }
      return this._parse(index, text.length)
    }

    /* UTF-8 in pieces (Uint8Arrays, one after the other) copied into the
     * input buffer and loaded as file `index`: its errors, or -1. */
    _loadUtf8(index, pieces) {
      const len = pieces.reduce((n, p) => n + p.length, 0)
      let ptr = this.exports.relay_input(len)
      if (!ptr) return -1
      for (const p of pieces) {
        this._bytes().set(p, ptr)
        ptr += p.length
      }
      return this._parse(index, len)
    }

    /* The input buffer's first `len` bytes loaded as file `index`. */
    _parse(index, len) {
      const errors = this.exports.relay_load(this.cfg, index, len)
      if (index === 0) this._settings = null
      this._reserveInput() // the load may have given a large buffer back
      return errors
    }

    /* Parses one file's whole text and swaps it in.  Returns the number of
     * errors in it; bad lines are diagnostics, never exceptions.  notes:
     * diagnostics about this text found before the module saw it (those of
     * decodeConfigBytes in js/config-text.js), listed with the module's own
     * until the file is loaded again.  When an instance holding exactly
     * this text (and the other two in force) has been made ready elsewhere
     * (prepare, below), it is put in force instead: no parsing here. */
    load(file, text, notes) {
      const index = fileIndex(file)
      // a string, or a file's bytes that are UTF-8 throughout (Uint8Array,
      // kept as they are: index.js rereads a big file without decoding it)
      text = text == null ? '' : text instanceof Uint8Array ? text : String(text)
      const ready = this._ready
      let errors
      if (ready && ready.index === index && this.isReady(file, text)) {
        this._adopt(ready)
        errors = ready.errors
      } else {
        errors = this._call(() => this._loadText(index, text))
      }
      if (errors < 0) throw new RelayTrap(`relay.wasm: out of memory reading ${file}; its previous text stays in force`)
      this.texts[index] = text
      this.notes[index] = Array.isArray(notes) ? notes.map((d) => ({ line: d.line, column: d.column, file, severity: d.severity, code: d.code, message: d.message })) : []
      return errors + this.notes[index].filter((d) => d.severity === 'error').length
    }

    /* ---- an instance made ready elsewhere (issue 12) --------------------
     * All the state of an instance of relay.wasm is in its memory: the
     * module imports nothing, its table never changes, and its one mutable
     * global, the stack pointer, is back at its start between calls
     * (scripts/build.js checks that shape).  So a fresh instance whose
     * memory is made a byte-for-byte copy of another's is that instance.
     * js/reloader.js lets a worker thread load a big file (with the other
     * two in force) into an instance of its own and send its memory here;
     * the copy is made in slices between other work (prepare(), then
     * step() until it returns true), and load() of that very text then
     * swaps instances in O(1). */

    /* In the worker: one file's text as UTF-8 bytes, in pieces (Uint8Arrays)
     * one after the other, loaded as load() does (errors, or -1 when memory
     * ran out). */
    loadBytes(file, pieces) {
      const index = fileIndex(file)
      return this._call(() => this._loadUtf8(index, pieces))
    }

    /* In the worker: a copy of this instance's memory, and where its config is. */
    image() {
      return { memory: this.exports.memory.buffer.slice(0), cfg: this.cfg }
    }

    /* Here: begins making ready an instance whose memory will be `image`,
     * for `text` of `file` (with `texts`, the three texts it holds, and
     * `errors`, what loading that text gave).  Returns a job; step() copies
     * up to `bytes` more of the image and returns true once it is all in. */
    prepare(file, text, texts, errors, image) {
      const index = fileIndex(file)
      const instance = new WebAssembly.Instance(this.module, IMPORTS)
      const memory = instance.exports.memory
      const src = new Uint8Array(image.memory)
      // grown to its full size at once: a fresh memory grows without copying
      // (a millisecond or two), where growing it slice by slice copied the
      // part already in at every step
      const pages = Math.ceil(src.length / 65536) - memory.buffer.byteLength / 65536
      if (pages > 0) memory.grow(pages)
      let done = 0
      const job = {
        index,
        text,
        texts: texts.slice(),
        errors,
        instance,
        cfg: image.cfg,
        complete: false,
        step: (bytes = src.length) => {
          const end = Math.min(src.length, done + bytes)
          new Uint8Array(memory.buffer, done, end - done).set(src.subarray(done, end))
          done = end
          job.complete = done === src.length
          if (job.complete) this._ready = job
          return job.complete
        },
      }
      return job
    }

    /* Is an instance ready that holds `text` for `file` and the other two
     * texts in force now? */
    isReady(file, text) {
      const ready = this._ready
      const index = fileIndex(file)
      if (!ready || ready.index !== index || ready.text !== text) return false
      return ready.texts.every((t, i) => i === index || t === this.texts[i])
    }

    _adopt(job) {
      this._ready = null
      this.exports = job.instance.exports
      this._u8 = new Uint8Array(this.exports.memory.buffer)
      this.cfg = job.cfg
      this.broken = false
      this._settings = null
      this._reserveInput()
    }

    /* { acl, force_routing, dest_domains, all }: read once per load of
     * relay.ini (a hook asks on every connection and recipient). */
    settings() {
      if (this._settings && !this.broken) return this._settings
      const bits = this._call((e) => e.relay_settings_bits(this.cfg))
      const out = {}
      for (const { name, bit } of this.abi.settings) out[name] = (bits & bit) !== 0
      this._settings = Object.freeze(out)
      return this._settings
    }

    /* { acl, force_routing, dest_domains, all }: the line of relay.ini that
     * set each switch as it stands (the last, when set more than once), 0
     * for one left at its default. */
    settingLines() {
      return this._call((e) => {
        const out = {}
        for (const { name, bit } of this.abi.settings) out[name] = e.relay_setting_line_of(this.cfg, bit)
        return Object.freeze(out)
      })
    }

    /* relay_acl's answer for ip: the line (> 0) of the most specific
     * entry holding it, 0 when none does, abi.notAddress when the module's
     * parser takes the text for no address. */
    _acl(ip) {
      if (typeof ip !== 'string' || ip.length === 0 || ip.length > 100) return this.abi.notAddress
      if (this.broken) this._start()
      try {
        const e = this.exports
        return e.relay_acl(this.cfg, this._putShort(e, ip))
      } catch (err) {
        throw this._trap(err)
      }
    }

    /* What relay_acl_allow says of ip: { address: false, line: 0 } when it
     * is no IP address (an answer of the module's own parser, whatever the
     * list holds), else { address: true, line }, line 0 when no entry holds
     * it. */
    aclAnswer(ip) {
      const v = this._acl(ip)
      return v === this.abi.notAddress ? NOT_ADDRESS : { address: true, line: v > 0 ? v : 0 }
    }

    /* null, or { line } of the most specific relay_acl_allow entry (null
     * also for a text that is no address: aclAnswer tells the two apart). */
    aclMatch(ip) {
      const v = this._acl(ip)
      return v > 0 ? { line: v } : null
    }

    /* { action, line } of relay_dest_domains.ini for a recipient domain:
     * the entry of its own key, else of the longest subdomain key over it
     * (rcptKey names which).
     * One call into the module, no answers kept: a new object each time.
     * (Up to 0.1.0 answers were kept per domain in a Map; with the domain
     * a fresh string on every RCPT, as Haraka hands it, the Map's hashing
     * and upkeep cost more than the call, issue 12.) */
    rcpt(domain) {
      if (typeof domain !== 'string' || domain.length === 0) return UNLISTED
      if (this.broken) this._start()
      let v
      try {
        const e = this.exports
        v = e.relay_rcpt(this.cfg, this._putShort(e, domain)) >>> 0
      } catch (err) {
        throw this._trap(err)
      }
      const a = this.abi
      return { action: a.actions[v & a.actionMask], line: v >>> a.lineShift }
    }

    /* The key of relay_dest_domains.ini whose entry decides for a domain,
     * as the module holds it: lower case, 'example.com' for the domain's
     * own key, '.example.com' for a subdomain key over it; '' when no
     * entry does.  Not part of rcpt() (one call per recipient): asked only
     * to name the key (relay-check, the page, a log line). */
    rcptKey(domain) {
      if (typeof domain !== 'string' || domain.length === 0) return ''
      return this._call((e) => this._keyFor(e, this._putShort(e, domain)))
    }

    /* relay_key_for of the domain already in the input buffer (len bytes):
     * the key's text, by its length in the output buffer. */
    _keyFor(e, len) {
      const n = e.relay_key_for(this.cfg, len)
      const ptr = e.relay_output()
      return n ? decoder.decode(this._bytes().subarray(ptr, ptr + n)) : ''
    }

    /* { status: 'mx' } | { status: 'nexthop', nexthop, key, line } |
     * { status: 'invalid', key, line, why } (why: which element of the
     * nexthop is bad, and how).  key: the entry's key ('any', the
     * domain's own, or a subdomain key over it, '.example.com'). */
    route(domain) {
      domain = typeof domain === 'string' ? domain : ''
      return this._call((e) => {
        const len = this._putShort(e, domain)
        // the key of the domain's own entry first (its own, or a subdomain
        // key over it), so that the output buffer ends with the route
        const own = this._keyFor(e, len)
        const v = e.relay_route_for(this.cfg, len) >>> 0
        const a = this.abi
        const status = a.routes[v & a.routeMask]
        if (status === 'mx') return { status }
        const result = { status, key: v & a.viaAny ? 'any' : own || domain.toLowerCase(), line: v >>> a.lineShift }
        // the route as JSON text, or (invalid) why it cannot be used; its
        // length from the module (none when memory ran out)
        const n = e.relay_output_length()
        const ptr = e.relay_output()
        const text = n ? decoder.decode(this._bytes().subarray(ptr, ptr + n)) : ''
        if (status === 'nexthop') result.nexthop = JSON.parse(text)
        else result.why = text || 'the route cannot be used'
        return result
      })
    }

    /* [{ file, line, column, severity, code, message }] in file, line,
     * column, severity order (the module's order), the notes of load()
     * among them. */
    diagnostics() {
      const list = this._call((e) => {
        const len = e.relay_report(this.cfg)
        if (!len) throw new RelayTrap('relay.wasm: out of memory writing diagnostics')
        const ptr = e.relay_output()
        return JSON.parse(decoder.decode(this._bytes().subarray(ptr, ptr + len)))
      })
      const notes = this.notes.flat()
      if (!notes.length) return list
      const place = (a, b) =>
        FILES.indexOf(a.file) - FILES.indexOf(b.file) || a.line - b.line || a.column - b.column || this.abi.severities.indexOf(a.severity) - this.abi.severities.indexOf(b.severity)
      return list.concat(notes).sort(place) // stable: the module's first on a tie
    }
  }

  return { RelayCore, RelayTrap, FILES }
})
