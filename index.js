'use strict'
// relay-wasm: a drop-in for haraka-plugin-relay whose decisions are made by
// the C core in wasm/relay.wasm (see js/engine.js).
//
// Every hook is registered whatever relay.ini says; each one asks the engine
// for the current settings when it runs, so a feature switched on or off in
// relay.ini takes effect when the file is reloaded, without a restart.  The
// plugin watches its three files itself and rereads a changed one off the
// event loop (watch_relay_files, reload_when_settled; a big one is parsed in
// a worker thread, js/reloader.js).
//
// The hooks carry out rules written once, in js/decide.js (rcptRule and
// explainRule), which relay-check and the validator page follow too.  Each
// recipient's answer and its reason go to Haraka's log at INFO.
//
// Three rules keep the plugin from ever relaying more than its files say:
//  - A grant from relay_dest_domains.ini (or from all=true) covers the one
//    recipient it was made for.  Haraka's relaying flag is what other rcpt
//    plugins trust (rcpt_to.in_host_list, qmail-deliverable accept anything
//    while it is set), so the plugin sets it only while that recipient is
//    being decided (`continue` needs it: Haraka turns the final CONT into
//    250 only when relaying is set) and clears it as soon as the recipient
//    is answered.  At DATA, when a granted recipient is still in the
//    transaction, the flag is set for the message, so Haraka queues it
//    outbound as haraka-plugin-relay does.
//  - A file that the module failed to load (a trap, memory, a read error)
//    is not trusted in its old state either: what it decides is answered
//    with DENYSOFT until a load of it succeeds.
//  - A changed file is put in force only once it has stopped changing
//    (see reload_when_settled), never half written.

const fs = require('node:fs')
const path = require('node:path')

const { OK, DENY, DENYSOFT } = require('haraka-constants')

const { createEngine, FILES } = require('./js/engine')
// outboundRoute: a route as outbound can use it (an [IPv6] URL host bare,
// a password out of Haraka's log; see js/decide.js)
const { aclAddress, rcptRule, explainRule, outboundRoute } = require('./js/decide')
const { decodeConfigBytes, formatDiagnostic, sizeProblem } = require('./js/config-text')
const { safeLine } = require('./js/safe-text')
const reloader = require('./js/reloader')
const { isUtf8 } = require('node:buffer') // Node 18.14 and later; without it, every file is decoded

const NOTE = 'relay-wasm'
const TEMPFAIL = 'temporary failure in relay-wasm'
const [INI, ACL, DOMAINS] = FILES
const UNLISTED_ENTRY = Object.freeze({ action: 'unlisted', line: 0 }) // a recipient with no domain

// A changed file is read for good only when its modification time is at
// least SETTLE_MS old: a writer that pauses less than this between two
// pieces is never caught half way.  A change is first looked at
// CHANGE_QUIET_MS after the last event of the file, so in the ordinary case
// a saved file is in force about SETTLE_MS after it was written.
// A text that looks cut (its last line has no line end, or it is empty
// where the text in force is not) must have stood still for HOLD_MS: the
// writer may be pausing in the middle of a line.
const SETTLE_MS = 2000
const HOLD_MS = 15000
const CHANGE_QUIET_MS = 1000 // no event for this long: the change is looked at
const DIR_POLL_MS = 10000 // a watched directory that does not exist is looked for this often

exports.register = function () {
  this.engine = createEngine()
  this.logged_diagnostics = new Set()
  this.load_failed = new Map() // file -> why its last load failed
  this.settle_timers = new Map()
  this.in_force = new Map() // file -> the text last put in force
  this.encoding_notes = new Map() // file -> { text, diagnostics } of its last decode
  this.in_force_path = new Map() // file -> where that text was read (null: missing)
  this.moved_since = new Map() // file -> { where, since }: read from a new place since
  this.read_generation = new Map() // file -> count of changes seen (a read from before one is stale)

  for (const file of FILES) this.load_relay_file(file, { quiet: true })
  this.log_diagnostics(() => true) // once, after all three files are in
  this.watch_relay_files()

  this.register_hook('connect_init', 'acl')
  this.register_hook('connect', 'pass_relaying')
  // dest_domains then all, as haraka-plugin-relay orders them, in one hook:
  // one trip through Haraka's hook machinery per recipient, not two
  this.register_hook('rcpt', 'rcpt')
  // first among their peers: a grant ends before any other plugin of these
  // hooks (or of the next recipient) can read the flag
  this.register_hook('rcpt_ok', 'end_recipient_grant', -100)
  this.register_hook('deny', 'end_recipient_grant', -100)
  this.register_hook('data', 'relay_granted_message', -100)
  this.register_hook('get_mx', 'force_routing')
}

// ---- reading the files ------------------------------------------------

// The raw text of one config file, at the first load (register). 'binary'
// hands back the file's bytes untouched (null when the file is missing), so
// the engine sees exactly what is on disk (line ends, trailing newline) and
// its line numbers are the file's. It also lets an empty file in Haraka's
// config/ override the plugin's shipped default, which 'data' ([] for empty
// == missing) cannot.  no_watch: haraka-config would reread a changed file
// on the event loop and copy it again for each get (a 50 MB
// relay_dest_domains.ini: a pause of 100 ms and more, issue 12), so the
// plugin watches its files itself (watch_relay_files) and rereads them off
// the event loop (reload_when_settled).
exports.read_relay_file = function (file) {
  const raw = this.config.get(file, 'binary', { no_watch: true })
  if (Buffer.isBuffer(raw)) return this.decode_relay_file(file, raw)
  this.encoding_notes.delete(file)
  if (raw == null) return ''
  if (Array.isArray(raw)) return raw.join('\n')
  return String(raw)
}

// A file's bytes as the engine reads them.  They are decoded as relay-check
// and the page decode them (bad UTF-8 becomes U+FFFD, with a warning on its
// line), so all three read one text.  A big file that is UTF-8 throughout
// (checked in a millisecond or two) is handed on as its bytes: decoding
// 50 MB into a string would hold the event loop for tens of ms, and the
// engine reads UTF-8 anyway.
exports.decode_relay_file = function (file, bytes) {
  const tooLarge = sizeProblem(bytes.length)
  if (tooLarge) throw new Error(tooLarge) // the file's decisions are then DENYSOFT (load_failure)
  if (bytes.length >= reloader.settings.minChars && isUtf8?.(bytes)) {
    this.encoding_notes.delete(file)
    if (bytes.buffer instanceof SharedArrayBuffer) return bytes
    // (haraka-config's copy, at the first load) kept where the reloader's
    // worker can read it when another file is reloaded
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length))
    shared.set(bytes)
    return shared
  }
  const { text, diagnostics } = decodeConfigBytes(bytes, file)
  this.encoding_notes.set(file, { text, diagnostics })
  return text
}

// Where haraka-config reads `file` from: Haraka's config/ (the overrides of
// a packaged plugin) when the file is there, else the plugin's own config/.
exports.relay_file_path = function (file) {
  for (const dir of this.relay_dirs()) {
    const p = path.join(dir, file)
    if (fs.existsSync(p)) return p
  }
  return null
}

exports.relay_dirs = function () {
  return [...new Set([this.config?.overrides_path, this.config?.root_path].filter(Boolean))]
}

// The directories the files are read from are watched (an event names the
// file; creating a file in Haraka's config/ that overrides the default is
// one too).  A change is looked at once the file has had no event for
// CHANGE_QUIET_MS, then put in force once it stands still (below).
exports.watch_relay_files = function () {
  this.watchers = []
  for (const dir of this.relay_dirs()) this.watch_dir(dir)
}

exports.watch_dir = function (dir) {
  let watcher
  try {
    watcher = fs.watch(dir, { persistent: false }, (event, name) => {
      const file = name == null ? null : String(name)
      if (file === null) for (const f of FILES) this.file_changed(f) // unnamed: any of them may have
      else if (FILES.includes(file)) this.file_changed(file)
    })
  } catch (err) {
    if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') {
      this.logerror(safeLine(`cannot watch ${dir}: ${err.message}; changes to the relay files there take effect at restart`))
      return
    }
    // not there yet: looked for again, and its files read once it is
    const timer = setTimeout(() => {
      if (this.watch_dir(dir)) for (const f of FILES) this.file_changed(f)
    }, DIR_POLL_MS)
    timer.unref?.()
    return false
  }
  watcher.on('error', (err) => {
    this.logerror(safeLine(`watching ${dir}: ${err.message}; watching it again`))
    watcher.close()
    this.watch_dir(dir)
  })
  this.watchers.push(watcher)
  return true
}

exports.file_changed = function (file) {
  this.read_generation.set(file, (this.read_generation.get(file) || 0) + 1) // a read under way is stale
  clearTimeout(this.settle_timers.get(file))
  const timer = setTimeout(() => this.reload_when_settled(file), CHANGE_QUIET_MS)
  timer.unref?.()
  this.settle_timers.set(file, timer)
}

// The file on disk now, read off the event loop: { bytes, mtimeMs }
// (missing: no bytes, mtimeMs NaN), or null when it changed while it was
// read.  A big file is read into shared memory, where the reloader's worker
// thread reads it without a copy (js/reloader.js).
async function read_stable(p) {
  if (!p) return { bytes: new Uint8Array(0), mtimeMs: NaN }
  const fh = await fs.promises.open(p, 'r')
  try {
    const before = await fh.stat()
    if (before.isDirectory()) throw Object.assign(new Error(`${p} is a directory`), { code: 'EISDIR' })
    const size = before.size
    if (sizeProblem(size)) throw new Error(sizeProblem(size)) // not read at all
    const bytes = size >= reloader.settings.minChars ? new Uint8Array(new SharedArrayBuffer(size)) : Buffer.alloc(size)
    let got = 0
    for (let n = 1; got < size && n > 0; got += n) n = (await fh.read(bytes, got, size - got, got)).bytesRead
    const more = (await fh.read(Buffer.alloc(1), 0, 1, size)).bytesRead // grew meanwhile
    const after = await fs.promises.stat(p) // by name: replaced meanwhile
    const same = got === size && !more && after.ino === before.ino && after.size === size && after.mtimeMs === before.mtimeMs
    return same ? { bytes, mtimeMs: after.mtimeMs } : null
  } finally {
    await fh.close()
  }
}

const endsLine = (bytes) => bytes.length > 0 && (bytes[bytes.length - 1] === 10 || bytes[bytes.length - 1] === 13)

// `file` changed.  An editor that truncates and rewrites in place leaves it
// empty or cut for a moment, so the file is put in force only once it has
// not been modified for SETTLE_MS (HOLD_MS when it looks cut); otherwise it
// is looked at again when that time has passed.  Until then the text in
// force stays.  Resolves when this look is over.
exports.reload_when_settled = async function (file) {
  clearTimeout(this.settle_timers.get(file))
  this.settle_timers.delete(file)
  const generation = this.read_generation.get(file) || 0
  const where = this.relay_file_path(file)
  let disk
  try {
    disk = await read_stable(where)
  } catch (err) {
    if (err.code !== 'ENOENT') return this.load_failure(file, `reading ${file}: ${err.message}`)
    disk = null // gone between the look and the read: changing
  }
  if ((this.read_generation.get(file) || 0) !== generation) return // changed again: a newer look is due
  const bytes = disk?.bytes
  const inForce = this.in_force.get(file)
  // cut: no line end at the end, read empty where the text in force is not,
  // or read from elsewhere (the file in Haraka's config/ vanished: an editor
  // that deletes before it writes)
  const looksCut = !bytes || (bytes.length === 0 ? inForce?.length > 0 : !endsLine(bytes)) || where !== this.in_force_path.get(file)
  const quiet = looksCut ? HOLD_MS : SETTLE_MS
  // a file that moved (or vanished) is as old as the move, whatever its mtime
  let moved = this.moved_since.get(file)
  if (where === this.in_force_path.get(file)) moved = null
  else if (moved?.where !== where) moved = { where, since: Date.now() }
  this.moved_since.set(file, moved)
  const changed = moved ? Math.max(moved.since, where ? disk?.mtimeMs : 0) : disk?.mtimeMs
  const age = disk ? Date.now() - changed : 0
  if (disk && age >= quiet) {
    let text
    try {
      text = this.decode_relay_file(file, bytes)
    } catch (err) {
      return this.load_failure(file, `reading ${file}: ${err.message}`)
    }
    return this.load_relay_file(file, { text })
  }
  // not yet: the text in force stays until the file stands still
  const wait = disk ? quiet - age + 20 : SETTLE_MS
  const why = !disk ? 'is changing' : looksCut ? 'looks cut short (no line end, or empty)' : 'changed moments ago'
  this.loginfo(`${file} ${why}; the text in force stays, reading it again in ${Math.round(wait)} ms`)
  const timer = setTimeout(() => this.reload_when_settled(file), wait)
  timer.unref?.()
  this.settle_timers.set(file, timer)
}

exports.load_relay_file = function (file, { quiet = false, text } = {}) {
  if (text === undefined) {
    try {
      text = this.read_relay_file(file)
    } catch (err) {
      return this.load_failure(file, `reading ${file}: ${err.message}`)
    }
  }
  // issue 12: a large text is made ready off the event loop (js/reloader.js); this runs again when it is
  const again = (err) => (err && this.logwarn(`${file}: ${err.message}; loading it here`), this.load_relay_file(file, { text }))
  if (!quiet && reloader.defer(this.engine, file, text, again)) return
  let errors
  try {
    const notes = this.encoding_notes.get(file)
    errors = this.engine.load(file, text, notes?.text === text ? notes.diagnostics : [])
  } catch (err) {
    this.engine_failed(`loading ${file}`, err)
    return this.load_failure(file, `loading ${file}: ${err.message}`)
  }
  this.in_force.set(file, text)
  this.in_force_path.set(file, this.relay_file_path(file))
  if (this.load_failed.delete(file)) this.lognotice(`${file} loaded; its decisions are in force again`)
  if (quiet) return
  this.lognotice(`${file} in force (${errors} error${errors === 1 ? '' : 's'})`)
  // that file's diagnostics, and any new cross-file ones the change caused
  this.log_diagnostics((d, isNew) => d.file === file || isNew)
}

// A load that did not happen: neither the new text nor the old one is to be
// trusted, so what the file decides is a temporary failure until a load of
// it succeeds.
exports.load_failure = function (file, why) {
  this.load_failed.set(file, why)
  this.logcrit(safeLine(`${why}; answering DENYSOFT for what ${file} decides until it loads`))
}

// Why a decision that needs `files` cannot be made now, or null.
exports.unavailable = function (...files) {
  for (const f of files) if (this.load_failed.has(f)) return this.load_failed.get(f)
  return null
}

exports.log_diagnostics = function (wanted) {
  let list
  try {
    list = this.engine.diagnostics()
  } catch (err) {
    this.engine_failed('reading diagnostics', err)
    return
  }
  const seen = new Set()
  for (const d of list) {
    const line = safeLine(formatDiagnostic(d)) // as relay-check prints it
    seen.add(line)
    if (!wanted(d, !this.logged_diagnostics.has(line))) continue
    if (d.severity === 'error') this.logerror(line)
    else if (d.severity === 'warning') this.logwarn(line)
    else this.loginfo(line)
  }
  this.logged_diagnostics = seen
}

// The engine threw (a wasm trap or anything else): log it, start a fresh
// instance with the last texts, and let the caller answer DENYSOFT.
exports.engine_failed = function (what, err) {
  this.logcrit(safeLine(`engine failure while ${what}: ${err?.stack || err}`))
  try {
    this.engine.reset()
  } catch (err2) {
    this.logcrit(`engine reset failed: ${err2?.stack || err2}`)
  }
}

// ---- connect ------------------------------------------------------------

function conn_note(connection) {
  const notes = connection.notes
  if (!notes) return {}
  if (!notes[NOTE]) notes[NOTE] = {}
  return notes[NOTE]
}

// connect_init runs again when the client sends a further PROXY line
// (Haraka keeps the PROXY permission for the whole session), with the
// address that line names.  The ACL is asked once per connection, about the
// first address Haraka settled on; a later change of address never grants
// relaying (Haraka has cleared the flag by then).
exports.acl = function (next, connection) {
  const note = conn_note(connection)
  const ip = String(connection.remote?.ip ?? '')
  if (note.acl_ip !== undefined && note.acl_ip !== ip) {
    connection.logwarn(this, safeLine(`client address changed from ${note.acl_ip} to ${ip} (a further PROXY line): relay_acl_allow is not asked again, and this connection does not relay by address`))
    connection.results.add(this, { fail: 'acl(address changed)' })
    note.acl_changed = true
    return next()
  }
  note.acl_ip = ip
  if (note.acl_changed) return next()
  const down = this.unavailable(INI, ACL)
  if (down) {
    // connect_init's answer is ignored by Haraka: keep the failure on the
    // connection and answer it at RCPT
    conn_note(connection).tempfail = down
    return next()
  }
  let hit
  try {
    if (!this.engine.settings().acl) return next()
    // without an IPv6 zone id (fe80::1%eth0): one rule with relay-check
    hit = this.engine.aclMatch(aclAddress(ip)) // the line, or null (also for a text that is no address)
  } catch (err) {
    this.engine_failed('checking relay_acl_allow', err)
    conn_note(connection).tempfail = 'relay_acl_allow could not be checked'
    return next(DENYSOFT, TEMPFAIL)
  }
  if (!hit) {
    connection.results.add(this, { skip: 'acl(unlisted)' })
    return next()
  }
  connection.logdebug(this, `${connection.remote.ip} is in relay_acl_allow line ${hit.line}`)
  note.acl_line = hit.line
  connection.relaying = true
  connection.results.add(this, { pass: 'acl' })
  next(OK)
}

exports.pass_relaying = function (next, connection) {
  try {
    if (!this.engine.settings().acl) return next()
  } catch (err) {
    this.engine_failed('reading relay.ini settings', err)
    return next(DENYSOFT, TEMPFAIL)
  }
  if (connection.relaying) return next(OK)
  next()
}

// ---- rcpt ---------------------------------------------------------------

// What this plugin granted in a transaction: `granted` the recipients
// (Address objects) it vouched for, `pending` the one whose decision is
// under way with the relaying flag set for it.
function txn_note(txn) {
  if (!txn.notes[NOTE]) txn.notes[NOTE] = { granted: [], pending: null }
  return txn.notes[NOTE]
}

// The recipient `rcpt` is granted by this plugin.  With `flag` (continue:
// later plugins decide, and Haraka's final CONT must become 250) relaying is
// set until the recipient is answered; see end_recipient_grant.
function grant(connection, rcpt, flag) {
  const note = txn_note(connection.transaction)
  note.granted.push(rcpt)
  if (flag) {
    note.pending = rcpt
    connection.relaying = true
  }
}

// rcpt_ok and deny (first of their hooks): the recipient is answered, so a
// relaying flag set for it ends here.
exports.end_recipient_grant = function (next, connection) {
  clear_pending(connection)
  next()
}

function clear_pending(connection) {
  const note = connection?.transaction?.notes?.[NOTE]
  if (!note?.pending) return false
  note.pending = null
  connection.relaying = false
  return true
}

// DATA: every recipient is known.  When one this plugin granted is among
// them, the message is relayed mail: set the flag for the queue (outbound),
// as haraka-plugin-relay does.
exports.relay_granted_message = function (next, connection) {
  const txn = connection?.transaction
  const note = txn?.notes?.[NOTE]
  if (note && !connection.relaying && note.granted.some((r) => txn.rcpt_to?.includes(r))) {
    connection.relaying = true
    txn.results.add(this, { pass: 'relay_dest_domain(message)' })
  }
  next()
}

// rcpt: what relay_dest_domains.ini and all=true say of one recipient.  The
// rule itself is rcptRule (js/decide.js), the one relay-check and the page
// follow; this hook carries it out.  Relaying granted by the ACL, SMTP AUTH
// or any other plugin covers every recipient; a grant from a
// relay_dest_domains.ini entry or from all=true covers its own recipient
// only (see grant()).
exports.rcpt = function (next, connection, params) {
  // a flag left from the previous recipient (its rcpt_ok or deny hook did
  // not reach this plugin) ends before this recipient is decided
  if (clear_pending(connection)) connection.logwarn(this, 'relaying flag of the previous recipient cleared late')
  const relaying = !!connection.relaying
  const txn = connection.transaction
  const rcpt = params?.[0]
  if (!relaying) {
    const down = this.unavailable(INI) || connection.notes?.[NOTE]?.tempfail
    if (down) {
      connection.logwarn(this, safeLine(`DENYSOFT: ${down}`))
      return next(DENYSOFT, TEMPFAIL)
    }
  }
  let settings
  try {
    settings = this.engine.settings()
  } catch (err) {
    this.engine_failed('reading relay.ini settings', err)
    return next(DENYSOFT, TEMPFAIL)
  }
  if (settings.dest_domains && !relaying && this.unavailable(DOMAINS)) return next(DENYSOFT, TEMPFAIL)
  const domain = String(rcpt?.host ?? '').toLowerCase()
  let rule
  try {
    rule = rcptRule(settings, relaying, () => (domain ? this.engine.rcpt(domain) : UNLISTED_ENTRY))
  } catch (err) {
    this.engine_failed(`looking up ${domain} in relay_dest_domains.ini`, err)
    return next(DENYSOFT, TEMPFAIL)
  }
  if (rule.action === 'invalid') {
    connection.logerror(this, safeLine(`relay_dest_domains.ini line ${rule.line}: entry for ${domain} is invalid; refusing the recipient`))
  }
  if (rule.grant !== 'none' && txn) grant(connection, rcpt, rule.grant === 'flagged')
  if (txn && settings.dest_domains) {
    const outcome = rule.by === 'relaying' ? { skip: 'relay_dest_domain(relay)' } : rule.code === 250 ? { pass: 'relay_dest_domain' } : { fail: 'relay_dest_domain' }
    txn.results.add(this, outcome)
  }
  if (this.would_log_info()) {
    try {
      this.log_reason(connection, rcpt, domain, rule)
    } catch (err) {
      connection.logerror(this, safeLine(`writing the reason of a decision: ${err?.message}`)) // the answer stands
    }
  }
  if (rule.hook === 'ok') return next(OK)
  if (rule.hook === 'deny') return next(DENY, rule.message)
  next()
}

// One INFO line per recipient: the client, the recipient, the answer and
// why, in relay-check's words (explainRule), e.g.
//   203.0.113.5 -> <a@far.test>: 550 "You are not allowed to relay": far.test is not listed in relay_dest_domains.ini
// Built only when Haraka would write it.
exports.log_reason = function (connection, rcpt, domain, rule) {
  const note = connection.notes?.[NOTE] || {}
  const client = note.acl_line
    ? { why: 'acl', line: note.acl_line }
    : connection.notes?.auth_user !== undefined
      ? { why: 'auth', line: 0 }
      : { why: rule.by === 'relaying' ? 'other' : 'none', line: 0 }
  let allAt = 0
  if (rule.by === 'all') {
    try {
      allAt = this.engine.settingLines().all
    } catch {
      allAt = 0 // the line is only for the log: a failure here decides nothing
    }
  }
  // the key that matched (a subdomain key, `.example.com`, is named): asked only for the log
  if (rule.by === 'dest' && rule.line && !rule.key) rule = { ...rule, key: this.engine.rcptKey(domain) || null }
  const why = explainRule(rule, domain, client, allAt)
  const answer =
    rule.hook === 'ok' ? '250' : rule.hook === 'deny' ? `550 "${rule.message}"` : rule.code === 250 ? '250 unless a later rcpt plugin refuses it' : '550 unless another rcpt plugin accepts it'
  // Haraka's Address: .address is the address (a method in older versions)
  const address = typeof rcpt?.address === 'function' ? rcpt.address() : (rcpt?.address ?? String(rcpt ?? ''))
  connection.loginfo(this, safeLine(`${connection.remote?.ip ?? ''} -> <${address}>: ${answer}: ${why.explain}`))
}

// Would Haraka write an INFO line?  Asked of Haraka's logger when the
// plugin runs in Haraka; elsewhere (tests with a stand-in) yes.
exports.would_log_info = function () {
  if (this.haraka_logger === undefined) {
    try {
      this.haraka_logger = this.haraka_require?.('logger') ?? null
    } catch {
      this.haraka_logger = null
    }
  }
  const logger = this.haraka_logger
  return logger?.would_log ? logger.would_log(logger.LOGINFO) : true
}

// ---- get_mx -------------------------------------------------------------

// With force_routing on: a domain with an entry goes to its nexthop, or by
// MX when the entry gives none; a domain without an entry to the nexthop of
// `any`, else by MX (as in haraka-plugin-relay 1.0.2).  A route that cannot
// be read is deferred whole, with why in the log, never guessed.
exports.force_routing = function (next, hmail, domain) {
  const dom = String(domain ?? '').toLowerCase()
  const down = this.unavailable(INI, DOMAINS)
  if (down) {
    this.logcrit(safeLine(`routing ${dom}: ${down}; deferring`))
    return next(DENYSOFT, TEMPFAIL)
  }
  let route
  try {
    if (!this.engine.settings().force_routing) return next()
    route = this.engine.route(dom)
  } catch (err) {
    this.engine_failed(`routing ${dom}`, err)
    return next(DENYSOFT, TEMPFAIL)
  }
  switch (route.status) {
    case 'mx':
      return next()
    case 'nexthop':
      this.logdebug(safeLine(`using ${JSON.stringify(route.nexthop)} for ${dom} (${route.key}, line ${route.line})`))
      return next(OK, outboundRoute(route.nexthop))
  }
  const msg = safeLine(`invalid route for ${dom} in relay_dest_domains.ini line ${route.line}: ${route.why}`)
  this.logerror(`${msg} (entry ${safeLine(route.key)}); deferring`)
  next(DENYSOFT, msg)
}
