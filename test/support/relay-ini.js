// relay.ini text for tests: the manual's defaults with some switches changed.
//   relayIni({ dest_domains: true }) -> "[relay]\nacl=true\n...dest_domains=true\n..."
'use strict'

function relayIni(over = {}) {
  const s = { acl: true, force_routing: false, dest_domains: false, all: false, ...over }
  return `[relay]\n${Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`
}

module.exports = { relayIni }
