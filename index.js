'use strict'
// relay-wasm: a drop-in for haraka-plugin-relay whose decisions are made by
// the C core in wasm/relay.wasm (see js/engine.js).
//
// Every hook is registered whatever relay.ini says; each one asks the engine
// for the current settings when it runs, so a feature switched on or off in
// relay.ini takes effect on Haraka's reload of the file, without a restart.
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

const { OK, CONT, DENY, DENYSOFT } = require('haraka-constants')

const { createEngine, FILES } = require('./js/engine')
// outboundRoute: a route as outbound can use it (an [IPv6] URL host bare,
// a password out of Haraka's log; see js/decide.js)
const { aclAddress, destDomainsAnswer, outboundRoute } = require('./js/decide')
const { decodeConfigBytes } = require('./js/config-text')
const { safeLine } = require('./js/safe-text')

const NOTE = 'relay-wasm'
const TEMPFAIL = 'temporary failure in relay-wasm'
const [INI, ACL, DOMAINS] = FILES

// A changed file is read for good only when its modification time is at
// least SETTLE_MS old: a writer that pauses less than this between two
// pieces is never caught half way.  Haraka's own watcher already waits 5 s
// after the last change event, so in the ordinary case this adds no delay.
// A text that looks cut (its last line has no line end, or it is empty
// where the text in force is not) must have stood still for HOLD_MS: the
// writer may be pausing in the middle of a line.
const SETTLE_MS = 2000
const HOLD_MS = 15000

exports.register = function () {
  this.engine = createEngine()
  this.logged_diagnostics = new Set()
  this.load_failed = new Map() // file -> why its last load failed
  this.settle_timers = new Map()
  this.in_force = new Map() // file -> the text last put in force
  this.encoding_notes = new Map() // file -> { text, diagnostics } of its last decode
  this.in_force_path = new Map() // file -> where that text was read (null: missing)
  this.moved_since = new Map() // file -> { where, since }: read from a new place since

  for (const file of FILES) this.load_relay_file(file, { quiet: true })
  this.log_diagnostics(() => true) // once, after all three files are in

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

// The raw text of one config file. 'binary' hands back the file's bytes
// untouched (null when the file is missing), so the engine sees exactly what
// is on disk (line ends, trailing newline) and its line numbers are the
// file's. It also lets an empty file in Haraka's config/ override the
// plugin's shipped default, which 'data' ([] for empty == missing) cannot.
// The bytes are decoded as relay-check and the page decode them (bad UTF-8
// becomes U+FFFD, with a warning on its line), so all three read one text.
exports.read_relay_file = function (file) {
  const raw = this.config.get(file, 'binary', () => this.reload_when_settled(file))
  if (Buffer.isBuffer(raw)) {
    const { text, diagnostics } = decodeConfigBytes(raw, file)
    this.encoding_notes.set(file, { text, diagnostics })
    return text
  }
  this.encoding_notes.delete(file)
  if (raw == null) return ''
  if (Array.isArray(raw)) return raw.join('\n')
  return String(raw)
}

// Where haraka-config reads `file` from: Haraka's config/ (the overrides of
// a packaged plugin) when the file is there, else the plugin's own config/.
exports.relay_file_path = function (file) {
  for (const dir of [this.config?.overrides_path, this.config?.root_path]) {
    if (!dir) continue
    const p = path.join(dir, file)
    if (fs.existsSync(p)) return p
  }
  return null
}

// The file on disk now: { text, mtimeMs } (mtimeMs NaN when missing), or
// null when it changed while it was read.
function read_stable(p) {
  if (!p) return { text: '', mtimeMs: NaN }
  const before = fs.statSync(p)
  const bytes = fs.readFileSync(p)
  const after = fs.statSync(p)
  if (before.mtimeMs !== after.mtimeMs || after.size !== bytes.length) return null
  return { text: bytes.toString('utf8'), mtimeMs: after.mtimeMs }
}

// Haraka's watcher says `file` changed.  Its reload fires 5 s after the last
// change event, which can be the very moment a new write starts (an editor
// that truncates and rewrites in place: the file reads empty or cut).  So
// the text is put in force only when what Haraka read is what is on disk
// and the file has not been modified for SETTLE_MS; otherwise the check is
// made again when that time has passed (and a further change brings a
// further reload from Haraka anyway).  Until then the text in force stays.
exports.reload_when_settled = function (file) {
  clearTimeout(this.settle_timers.get(file))
  this.settle_timers.delete(file)
  let text, disk, where
  try {
    text = this.read_relay_file(file)
    where = this.relay_file_path(file)
    disk = read_stable(where)
  } catch (err) {
    return this.load_failure(file, `reading ${file}: ${err.message}`)
  }
  // cut: no line end at the end, read empty where the text in force is not,
  // or read from elsewhere (the file in Haraka's config/ vanished: an editor
  // that deletes before it writes)
  const looksCut =
    (text === '' ? !!this.in_force.get(file) : !/[\r\n]$/.test(text)) || where !== this.in_force_path.get(file)
  const quiet = looksCut ? HOLD_MS : SETTLE_MS
  // a file that moved (or vanished) is as old as the move, whatever its mtime
  let moved = this.moved_since.get(file)
  if (where === this.in_force_path.get(file)) moved = null
  else if (moved?.where !== where) moved = { where, since: Date.now() }
  this.moved_since.set(file, moved)
  const changed = moved ? Math.max(moved.since, where ? disk?.mtimeMs : 0) : disk?.mtimeMs
  const age = disk ? Date.now() - changed : 0
  if (disk && disk.text === text && age >= quiet) return this.load_relay_file(file, { text })
  // not yet: the text in force stays until the file stands still
  const wait = disk && disk.text === text ? quiet - age + 20 : SETTLE_MS
  const why = !disk || disk.text !== text ? 'is changing' : looksCut ? 'looks cut short (no line end, or empty)' : 'changed moments ago'
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
  if (!quiet && require('./js/reloader').defer(this.engine, file, text, again)) return
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
  this.loginfo(`${file} in force (${errors} error${errors === 1 ? '' : 's'})`)
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
    const line = safeLine(`${d.file}:${d.line}: ${d.severity}: ${d.message} [${d.code}]`)
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
    hit = this.engine.aclMatch(aclAddress(ip))
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

// Relaying granted by the ACL, SMTP AUTH or any other plugin covers every
// recipient. A grant from a relay_dest_domains.ini entry covers its own
// recipient only (see grant()).
exports.dest_domains = function (next, connection, params) {
  const txn = connection?.transaction
  let settings
  try {
    settings = this.engine.settings()
  } catch (err) {
    this.engine_failed('reading relay.ini settings', err)
    return next(DENYSOFT, TEMPFAIL)
  }
  if (!settings.dest_domains || !txn) return next()

  if (connection.relaying) {
    txn.results.add(this, { skip: 'relay_dest_domain(relay)' })
    return next()
  }
  const down = this.unavailable(DOMAINS)
  if (down) return next(DENYSOFT, TEMPFAIL)

  const domain = String(params?.[0]?.host ?? '').toLowerCase()
  let r
  try {
    r = domain ? this.engine.rcpt(domain) : { action: 'unlisted', line: 0 }
  } catch (err) {
    this.engine_failed(`looking up ${domain} in relay_dest_domains.ini`, err)
    return next(DENYSOFT, TEMPFAIL)
  }

  if (r.action === 'invalid') {
    connection.logerror(this, safeLine(`relay_dest_domains.ini line ${r.line}: entry for ${domain} is invalid; refusing the recipient`))
  }
  // one table of answers, shared with relay-check and the validator page
  const answer = destDomainsAnswer(r.action)
  if (answer.relay) {
    grant(connection, params[0], answer.rc !== 'ok')
    txn.results.add(this, { pass: 'relay_dest_domain' })
    return answer.rc === 'ok' ? next(OK) : next()
  }
  txn.results.add(this, { fail: 'relay_dest_domain' })
  next(DENY, answer.message)
}

// rcpt: dest_domains, and when it neither accepts nor refuses, all.
exports.rcpt = function (next, connection, params) {
  // a flag left from the previous recipient (its rcpt_ok or deny hook did
  // not reach this plugin) ends before this recipient is decided
  if (clear_pending(connection)) connection.logwarn(this, 'relaying flag of the previous recipient cleared late')
  if (!connection.relaying) {
    const down = this.unavailable(INI) || connection.notes?.[NOTE]?.tempfail
    if (down) {
      connection.logwarn(this, safeLine(`DENYSOFT: ${down}`))
      return next(DENYSOFT, TEMPFAIL)
    }
  }
  this.dest_domains(
    (rc, msg) => {
      if (rc !== undefined && rc !== CONT) return next(rc, msg)
      this.all(next, connection, params)
    },
    connection,
    params,
  )
}

exports.all = function (next, connection, params) {
  try {
    if (!this.engine.settings().all) return next()
  } catch (err) {
    this.engine_failed('reading relay.ini settings', err)
    return next(DENYSOFT, TEMPFAIL)
  }
  connection.loginfo(this, safeLine(`confirming recipient ${params?.[0]}`))
  if (connection.transaction && !connection.relaying) grant(connection, params?.[0], false)
  next(OK)
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
