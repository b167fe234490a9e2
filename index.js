'use strict'
// relay-wasm: a drop-in for haraka-plugin-relay whose decisions are made by
// the C core in wasm/relay.wasm (see js/engine.js).
//
// Every hook is registered whatever relay.ini says; each one asks the engine
// for the current settings when it runs, so a feature switched on or off in
// relay.ini takes effect on Haraka's reload of the file, without a restart.

const { OK, CONT, DENY, DENYSOFT } = require('haraka-constants')

const { createEngine, FILES } = require('./js/engine')
const { destDomainsAnswer } = require('./js/decide')

const NOTE = 'relay-wasm'
const TEMPFAIL = 'temporary failure in relay-wasm'

exports.register = function () {
  this.engine = createEngine()
  this.logged_diagnostics = new Set()

  for (const file of FILES) this.load_relay_file(file, { quiet: true })
  this.log_diagnostics(() => true) // once, after all three files are in

  this.register_hook('connect_init', 'acl')
  this.register_hook('connect', 'pass_relaying')
  // dest_domains then all, as haraka-plugin-relay orders them, in one hook:
  // one trip through Haraka's hook machinery per recipient, not two
  this.register_hook('rcpt', 'rcpt')
  this.register_hook('get_mx', 'force_routing')
}

// The raw text of one config file. 'binary' hands back the file's bytes
// untouched (null when the file is missing), so the engine sees exactly what
// is on disk (line ends, trailing newline) and its line numbers are the
// file's. It also lets an empty file in Haraka's config/ override the
// plugin's shipped default, which 'data' ([] for empty == missing) cannot.
exports.read_relay_file = function (file) {
  const raw = this.config.get(file, 'binary', (err) => {
    if (err) this.logwarn(`re-reading ${file}: ${err.message}`)
    this.load_relay_file(file)
  })
  if (raw == null) return ''
  if (Buffer.isBuffer(raw)) return raw.toString('utf8')
  if (Array.isArray(raw)) return raw.join('\n')
  return String(raw)
}

exports.load_relay_file = function (file, { quiet = false } = {}) {
  let text
  try {
    text = this.read_relay_file(file)
  } catch (err) {
    this.logerror(`cannot read ${file}: ${err.message}; keeping the previous ${file}`)
    return
  }
  try {
    this.engine.load(file, text)
  } catch (err) {
    this.engine_failed(`loading ${file}`, err)
    return
  }
  if (quiet) return
  // that file's diagnostics, and any new cross-file ones the change caused
  this.log_diagnostics((d, isNew) => d.file === file || isNew)
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
    const line = `${d.file}:${d.line}: ${d.severity}: ${d.message} [${d.code}]`
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
  this.logcrit(`engine failure while ${what}: ${err?.stack || err}`)
  try {
    this.engine.reset()
  } catch (err2) {
    this.logcrit(`engine reset failed: ${err2?.stack || err2}`)
  }
}

exports.acl = function (next, connection) {
  let hit
  try {
    if (!this.engine.settings().acl) return next()
    hit = this.engine.aclMatch(String(connection.remote?.ip ?? ''))
  } catch (err) {
    this.engine_failed('checking relay_acl_allow', err)
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

// Relaying granted by the ACL, SMTP AUTH or any other plugin covers every
// recipient. Relaying that this hook granted for a relay_dest_domains.ini
// entry covers that recipient only: the flag it sets (needed for Haraka to
// queue the message outbound) must not carry later recipients of the same
// transaction to other domains, so each of those is decided on its own.
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

  const mine = txn.notes?.[NOTE]?.granted === true
  if (connection.relaying && !mine) {
    txn.results.add(this, { skip: 'relay_dest_domain(relay)' })
    return next()
  }

  const domain = String(params?.[0]?.host ?? '').toLowerCase()
  let r
  try {
    r = domain ? this.engine.rcpt(domain) : { action: 'unlisted', line: 0 }
  } catch (err) {
    this.engine_failed(`looking up ${domain} in relay_dest_domains.ini`, err)
    return next(DENYSOFT, TEMPFAIL)
  }

  if (r.action === 'invalid') {
    connection.logerror(this, `relay_dest_domains.ini line ${r.line}: entry for ${domain} is invalid; refusing the recipient`)
  }
  // one table of answers, shared with relay-check and the validator page
  const answer = destDomainsAnswer(r.action)
  if (answer.relay) {
    connection.relaying = true
    txn.notes[NOTE] = { granted: true }
    txn.results.add(this, { pass: 'relay_dest_domain' })
    return answer.rc === 'ok' ? next(OK) : next()
  }
  txn.results.add(this, { fail: 'relay_dest_domain' })
  next(DENY, answer.message)
}

// rcpt: dest_domains, and when it neither accepts nor refuses, all.
exports.rcpt = function (next, connection, params) {
  this.dest_domains(
    (rc, msg) => {
      if (rc !== undefined && rc !== CONT) return next(rc, msg)
      this.all(next, connection, params)
    },
    connection,
    params,
  )
}

exports.force_routing = function (next, hmail, domain) {
  const dom = String(domain ?? '').toLowerCase()
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
      this.logdebug(`using ${JSON.stringify(route.nexthop)} for ${dom} (${route.key}, line ${route.line})`)
      return next(OK, route.nexthop)
  }
  const msg = `invalid route for ${dom} in relay_dest_domains.ini line ${route.line}`
  this.logerror(`${msg} (entry ${route.key}); deferring`)
  next(DENYSOFT, msg)
}

exports.all = function (next, connection, params) {
  try {
    if (!this.engine.settings().all) return next()
  } catch (err) {
    this.engine_failed('reading relay.ini settings', err)
    return next(DENYSOFT, TEMPFAIL)
  }
  connection.loginfo(this, `confirming recipient ${params?.[0]}`)
  connection.relaying = true
  next(OK)
}
