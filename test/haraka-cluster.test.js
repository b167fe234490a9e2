'use strict'
// Cluster mode: the same checks as haraka-auth, haraka-routes and
// haraka-relay-battery, with nodes=2 in smtp.ini (a master and two worker
// processes, each with its own relay-wasm instance, sharing the listening
// port); each suite also checks that both workers served its sessions. Then:
// a config edit reaches every worker. Which process served a session is
// named in EHLO by the test_harness plugin (XWORKERPID, see lib/haraka.js).
//
//   node --test test/haraka-cluster.test.js

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')

const { Haraka, Smtp, freePort, sleep } = require('./lib/haraka')
const { authSuite } = require('./lib/auth-suite')
const { batterySuite } = require('./lib/battery-suite')
const { routesSuite } = require('./lib/routes-suite')

const NODES = 2

authSuite({ nodes: NODES })
routesSuite({ nodes: NODES })
batterySuite({ nodes: NODES })

describe(`a config edit reaches every worker (nodes=${NODES})`, { timeout: 90000 }, () => {
  const CLIENT = '127.0.0.88' // added to relay_acl_allow, then removed
  const OTHER = '127.0.0.89' // never in relay_acl_allow
  const ACL = '127.0.0.2\n'
  const DEST = '[domains]\nlisted.example = { "action": "accept" }\n'
  let haraka
  let port

  before(async () => {
    port = await freePort()
    haraka = new Haraka({
      name: 'cluster-edit',
      nodes: NODES,
      listen: [`127.0.0.1:${port}`],
      files: {
        'relay.ini': '[relay]\nacl=true\ndest_domains=true\n',
        relay_acl_allow: ACL,
        'relay_dest_domains.ini': DEST,
      },
    })
    await haraka.start()
  })

  after(async () => {
    await haraka?.stop()
  })

  // One session. kind 'acl': from CLIENT, is an unlisted domain accepted
  // (CLIENT relays)? kind 'dest': from OTHER (never in the ACL), is
  // new.example accepted? Resolves to { pid, kind, yes }.
  async function probe(kind) {
    const c = await Smtp.open({ port, localAddress: kind === 'acl' ? CLIENT : OTHER })
    try {
      await c.ehlo()
      await c.send('MAIL FROM:<s@client.example>')
      const rcpt = kind === 'acl' ? 'u@unlisted.example' : 'u@new.example'
      const yes = (await c.send(`RCPT TO:<${rcpt}>`)).code === 250
      return { pid: c.workerPid, kind, yes }
    } finally {
      await c.quit()
    }
  }

  // Probes (both kinds, in an order that does not follow the workers' round
  // robin) until every worker has given the `want` answer for both kinds
  // (bounded); then every further answer must be `want`, until each worker
  // has given each answer three more times.
  async function untilEveryWorker(want, label) {
    const workers = haraka.workerPids()
    assert.equal(workers.length, NODES, `worker pids: ${workers}`)
    const kinds = ['acl', 'acl', 'dest', 'dest', 'dest', 'acl']
    const deadline = Date.now() + 20000
    let done = new Map() // `${pid} ${kind}` -> count
    let i = 0
    while (done.size < NODES * 2) {
      const p = await probe(kinds[i++ % kinds.length])
      assert.ok(workers.includes(p.pid), `answered by ${p.pid}, not a worker (${workers})`)
      if (p.yes === want) done.set(`${p.pid} ${p.kind}`, 1)
      assert.ok(Date.now() < deadline, `${label}: only ${[...done.keys()]} of ${workers} x acl/dest have it after 20 s`)
      await sleep(50)
    }
    done = new Map()
    for (let n = 0; [...done.values()].filter((c) => c >= 3).length < NODES * 2; n++) {
      assert.ok(n < 100, `${label}: 100 sessions did not reach every worker with each kind: ${[...done]}`)
      const p = await probe(kinds[i++ % kinds.length])
      assert.equal(p.yes, want, `${label}: worker ${p.pid}, ${p.kind}`)
      done.set(`${p.pid} ${p.kind}`, (done.get(`${p.pid} ${p.kind}`) || 0) + 1)
    }
  }

  it('before the edit, every worker refuses the client', async () => {
    await untilEveryWorker(false, 'before')
  })

  it('an edit of relay_acl_allow and relay_dest_domains.ini reaches both workers', async () => {
    haraka.writeAtomic('relay_acl_allow', `${ACL}${CLIENT}\n`)
    haraka.writeAtomic('relay_dest_domains.ini', `${DEST}new.example = { "action": "accept" }\n`)
    await untilEveryWorker(true, 'after adding')
  })

  it('and so does the edit back', async () => {
    haraka.write('relay_acl_allow', ACL)
    haraka.write('relay_dest_domains.ini', DEST)
    await untilEveryWorker(false, 'after removing')
    assert.ok(haraka.alive())
  })
})
