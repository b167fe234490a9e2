'use strict'
// haraka-plugin-relay 1.0.2's own code, loaded and registered as Haraka
// loads it (haraka-test-fixtures, its config read by haraka-config from
// <root>/config, as test/plugin.test.js and test/differential.test.js drive
// it), and its hooks run as Haraka 3.3's plugins.js and connection.js run
// them: the hooks of one phase in order, CONT to the next, a hook that
// throws logged and counted as CONT; at RCPT, OK is 250, DENY 550 with the
// plugin's text, CONT 250 when relaying is set and otherwise Haraka's 550
// "I cannot deliver mail for <...>"; an address Haraka refuses is 501
// before any hook (test/support/haraka-rcpt.js, Haraka's own parser).
//
//   const old = relay102(root)
//   await old.session(ip, ['a@b.example', ...]) ->
//     { relays, thrown: [..], recipients: [{ code, accepted, via, message, thrown }] }
//       via: the hook method that answered OK, 'relaying' (CONT with
//       relaying set), or null
//   await old.route(domain) -> { route: 'mx'|'nexthop', nexthop, thrown }
//   old.plugin: the registered plugin (old.plugin.cfg, .acl_allow, .dest)

const fixtures = require('haraka-test-fixtures')
const { OK, CONT, DENY, DENYSOFT } = require('haraka-constants')

const { harakaRcpt } = require('./haraka-rcpt')

const LOG_LEVELS = ['logdebug', 'loginfo', 'lognotice', 'logwarn', 'logerror', 'logcrit', 'logalert', 'logemerg']

function relay102(root) {
  const plugin = new fixtures.plugin('haraka-plugin-relay')
  plugin.config = plugin.config.module_config(root)
  for (const level of LOG_LEVELS) plugin[level] = () => {}
  plugin.register()

  // plugins.run_next_hook: each method of the phase in order
  async function phase(hook, target, ...args) {
    const thrown = []
    for (const method of plugin.hooks[hook] || []) {
      let r
      try {
        r = await fixtures.callHook(plugin, method, target, ...args)
      } catch (err) {
        thrown.push(`${err.name}: ${err.message}`) // logcrit, then callback()
        continue
      }
      if (r.rc === undefined || r.rc === CONT) continue
      return { rc: r.rc, msg: r.msg, method, thrown }
    }
    return { rc: CONT, msg: undefined, method: null, thrown }
  }

  async function session(ip, rcpts) {
    const conn = fixtures.makeConnection({ ip, silent: true })
    const connect = await phase('connect_init', conn)
    const relays = !!conn.relaying
    conn.init_transaction()
    const recipients = []
    for (const text of rcpts) {
      const parsed = harakaRcpt(text)
      if (parsed.code) {
        recipients.push({ code: parsed.code, accepted: false, via: null, message: parsed.message, thrown: [] })
        continue
      }
      const r = await phase('rcpt', conn, [parsed.address, {}])
      let out
      if (r.rc === OK) out = { code: 250, accepted: true, via: r.method }
      else if (r.rc === DENY) out = { code: 550, accepted: false, via: null, message: r.msg }
      else if (r.rc === DENYSOFT) out = { code: 450, accepted: false, via: null, message: r.msg }
      else if (conn.relaying) out = { code: 250, accepted: true, via: 'relaying' }
      else out = { code: 550, accepted: false, via: null, message: `I cannot deliver mail for ${parsed.address.format()}` }
      if (out.accepted) conn.transaction.rcpt_to.push(parsed.address)
      recipients.push({ ...out, thrown: r.thrown })
    }
    return { relays, thrown: connect.thrown, recipients }
  }

  async function route(domain) {
    const r = await phase('get_mx', { todo: { domain } }, domain)
    if (r.rc === OK) return { route: 'nexthop', nexthop: r.msg, thrown: r.thrown }
    return { route: 'mx', thrown: r.thrown }
  }

  return { plugin, session, route }
}

module.exports = { relay102 }
