#!/usr/bin/env node
/*
 * cli.js - relay-check: the config checker of relay-wasm, for people and CI.
 *
 *   relay-check [CONFIG_DIR] [--strict] [--format text|json|github]
 *               [--ip ADDRESS [--auth] --rcpt ADDRESS [--rcpt ADDRESS ...]]
 *               [--expect FILE] [--compare 1.0.2] [--follow-symlinks]
 *
 * Reads relay.ini, relay_acl_allow and relay_dest_domains.ini from
 * CONFIG_DIR (default ./config; a missing file means its defaults) into the
 * same relay.wasm the plugin runs, prints every diagnostic and, with --ip,
 * what the plugin would answer that client (js/decide.js); with --expect,
 * whether each expectation of FILE holds (js/expect.js); with --compare,
 * where haraka-plugin-relay 1.0.2 answers otherwise (js/compare.js).
 * Exit status: 0 no error, 1 an error (or with --strict a warning),
 * 2 a usage or I/O problem.
 *
 * Its output is read by people, terminals and CI runners, and the config
 * it checks may come from anyone: every line it writes, to stdout or
 * stderr, goes through write() below and js/safe-text.js (no raw control
 * or bidi character, no runner command, no password).
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')

const { createEngine, FILES } = require('./engine')
const { decide } = require('./decide')
const { checkExpectations, textLines: expectText, annotations: expectAnnotations, summary: expectSummary, jsonReport: expectJson } = require('./expect')
const compare = require('./compare')
const { sizeProblem, decodeConfigBytes, formatDiagnostic, counts, countText } = require('./config-text')
const { safeLine, safeJson, githubCommand } = require('./safe-text')

const USAGE = `usage: relay-check [CONFIG_DIR] [options]

Checks relay.ini, relay_acl_allow and relay_dest_domains.ini in CONFIG_DIR
(default ./config) with the relay.wasm that the relay-wasm plugin runs.

options:
  --strict               exit 1 on warnings too, not only on errors
  --format FORMAT        text (default), json, or github (Actions annotations)
  --ip ADDRESS           a client address: say what the plugin answers it
  --auth                 the client has authenticated (SMTP AUTH)
  --rcpt ADDRESS         a recipient (repeat for several, in order); needs --ip
  --expect FILE          check the expectations in FILE, one a line:
                         CLIENT [auth] -> RECIPIENT: ANSWER (exit 1 if one fails)
  --compare 1.0.2        list where haraka-plugin-relay 1.0.2 answers otherwise
                         on this config (exit 1 if anything differs)
  --follow-symlinks      read a file that is a symbolic link to a place
                         outside CONFIG_DIR (refused otherwise)
  --page FILE            write the validator page (one HTML file) to FILE
  -h, --help             this text
  --version              the version of the package

exit status: 0 no error, 1 at least one error (--strict: or warning),
             2 a usage or I/O problem`

const FORMATS = ['text', 'json', 'github']

/* A problem that ends the run with exit status 2 and one line. */
class Fail extends Error {}

function parse(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        strict: { type: 'boolean' },
        format: { type: 'string' },
        ip: { type: 'string' },
        auth: { type: 'boolean' },
        rcpt: { type: 'string', multiple: true },
        expect: { type: 'string' },
        compare: { type: 'string' },
        'follow-symlinks': { type: 'boolean' },
        page: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    })
  } catch (err) {
    // node's text goes on with advice about '--'; its first sentence is enough
    throw new Fail(String(err.message).split('\n')[0].replace(/\. .*$/, ''))
  }
  const { values, positionals } = parsed
  if (positionals.length > 1) throw new Fail(`one CONFIG_DIR at most (got ${positionals.length})`)
  const format = values.format ?? 'text'
  if (!FORMATS.includes(format)) throw new Fail(`--format takes ${FORMATS.join(', ')} (got '${format}')`)
  const rcpts = values.rcpt ?? []
  if ((rcpts.length || values.auth) && values.ip === undefined) throw new Fail('--rcpt and --auth need --ip ADDRESS')
  if (values.expect !== undefined && values.ip !== undefined) throw new Fail('--expect and --ip ask different questions: give one of them')
  if (values.compare !== undefined && values.compare !== compare.RELEASE) throw new Fail(`--compare takes ${compare.RELEASE}, the release of haraka-plugin-relay it knows (got '${values.compare}')`)
  if (values.compare !== undefined && (values.ip !== undefined || values.expect !== undefined)) throw new Fail('--compare, --expect and --ip ask different questions: give one of them')
  return {
    dir: positionals[0] ?? 'config',
    strict: !!values.strict,
    followSymlinks: !!values['follow-symlinks'],
    format,
    // the address as given: Haraka hands the plugin connection.remote.ip untrimmed
    question: values.ip === undefined ? null : { ip: values.ip, auth: !!values.auth, rcpts },
    expect: values.expect ?? null,
    compare: values.compare !== undefined,
    page: values.page ?? null,
    help: !!values.help,
    version: !!values.version,
  }
}

function reason(err) {
  const words = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    ELOOP: 'too many symbolic links',
    EIO: 'input/output error',
  }
  return words[err.code] ?? String(err.message).replace(/^\w+: /, '')
}

/* The three files as the plugin reads them: { text, diagnostics } each,
 * text '' for a missing file (its defaults).  A file that is a symbolic
 * link to a place outside `dir` is not read unless followSymlinks: the
 * config of a pull request must not make the check read (and quote) the
 * runner's other files. */
function readConfig(dir, { followSymlinks = false } = {}) {
  let st
  try {
    st = fs.statSync(dir)
  } catch (err) {
    throw new Fail(`cannot read config directory ${dir}: ${reason(err)}`)
  }
  if (!st.isDirectory()) throw new Fail(`cannot read config directory ${dir}: not a directory`)
  try {
    fs.readdirSync(dir)
  } catch (err) {
    throw new Fail(`cannot read config directory ${dir}: ${reason(err)}`)
  }
  const texts = {}
  for (const file of FILES) {
    const p = path.join(dir, file)
    texts[file] = readOne(p, followSymlinks ? p : inside(dir, p))
  }
  return texts
}

/* Where to open `p` from: p itself when it is no symbolic link, its real
 * path when it is one that stays inside `dir`; a link out of `dir` is
 * refused, saying so.  A link to nothing is a missing file, as for Haraka. */
function inside(dir, p) {
  let st
  try {
    st = fs.lstatSync(p)
  } catch (err) {
    if (err.code === 'ENOENT') return p
    throw new Fail(`${p}: cannot read: ${reason(err)}`)
  }
  if (!st.isSymbolicLink()) return p
  let real, root
  try {
    real = fs.realpathSync(p)
    root = fs.realpathSync(dir)
  } catch (err) {
    if (err.code === 'ENOENT') return p // dangling: read as missing
    throw new Fail(`${p}: cannot read: ${reason(err)}`)
  }
  const rel = path.relative(root, real)
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Fail(`${p}: a symbolic link to ${real}, outside ${dir}: not followed (--follow-symlinks reads it)`)
  }
  return real
}

/* Reads the file at `from` (p, or the real path of a link checked by
 * inside()); messages name p. */
function readOne(p, from = p) {
  let fd
  try {
    // no link is followed at the last step from here: inside() resolved it
    const noFollow = from !== p ? (fs.constants.O_NOFOLLOW ?? 0) : 0
    fd = fs.openSync(from, fs.constants.O_RDONLY | noFollow | (fs.constants.O_NONBLOCK ?? 0))
  } catch (err) {
    if (err.code === 'ENOENT') return { text: '', diagnostics: [] } // missing: the defaults
    throw new Fail(`${p}: cannot read: ${reason(err)}`)
  }
  try {
    const st = fs.fstatSync(fd)
    if (st.isDirectory()) throw new Fail(`${p}: cannot read: is a directory, not a file`)
    if (!st.isFile()) throw new Fail(`${p}: cannot read: not a regular file`)
    if (sizeProblem(st.size)) throw new Fail(`${p}: ${sizeProblem(st.size)}`)
    let bytes
    try {
      bytes = fs.readFileSync(fd)
    } catch (err) {
      throw new Fail(`${p}: cannot read: ${reason(err)}`)
    }
    if (sizeProblem(bytes.length)) throw new Fail(`${p}: ${sizeProblem(bytes.length)}`) // grew while read
    // decoded as the plugin decodes it; bytes that are not UTF-8 are warnings
    return decodeConfigBytes(bytes, path.basename(p))
  } finally {
    fs.closeSync(fd)
  }
}

/* The file of --expect: a missing one is an error (no defaults); a symbolic
 * link out of its own directory is not followed, as in readConfig. */
function readExpectFile(p, followSymlinks) {
  try {
    fs.statSync(p)
  } catch (err) {
    throw new Fail(`${p}: cannot read: ${reason(err)}`)
  }
  return readOne(p, followSymlinks ? p : inside(path.dirname(p), p)).text
}

function loadEngine(dir, texts) {
  const engine = createEngine()
  for (const file of FILES) {
    try {
      engine.load(file, texts[file].text, texts[file].diagnostics)
    } catch (err) {
      const p = path.join(dir, file)
      if (err?.name === 'RelayTrap') throw new Fail(`${p}: too large for relay.wasm (${err.message})`)
      throw err
    }
  }
  return engine
}

/* A GitHub Actions annotation, as an entry for write(). */
function githubLine(d, file) {
  const kind = d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warning' : 'notice'
  const props = [['file', file]]
  if (d.line) props.push(['line', d.line])
  if (d.line && d.column) props.push(['col', d.column])
  props.push(['title', `relay-check ${d.code}`])
  return { annotation: [kind, props, `${d.message} [${d.code}]`] }
}

function decisionText(dec) {
  const c = dec.client
  const who = `client ${c.ip || '(none)'}${c.auth ? ', authenticated' : ', not authenticated'}`
  const lines = [`${who}: ${c.relay ? 'relays' : 'does not relay'}: ${c.explain}`]
  for (const r of dec.recipients) {
    lines.push(`  <${r.address}>: ${r.code} ${r.accepted ? 'accepted' : 'refused'}${r.accepted ? '' : ` "${r.message}"`}: ${r.explain}`)
    if (r.route) lines.push(`    route: ${r.route.explain}`)
  }
  return lines
}

function settingsText(s) {
  return `settings: ${Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`
}

function main(argv, out) {
  const opts = parse(argv)
  if (opts.help) {
    out.push(...USAGE.split('\n'))
    return 0
  }
  if (opts.version) {
    out.push(require('../package.json').version)
    return 0
  }
  if (opts.page !== null) {
    let r
    try {
      r = require('./page').writePage(opts.page)
    } catch (err) {
      throw new Fail(`cannot write the validator page to ${opts.page}: ${err.code ? reason(err) : err.message}`)
    }
    out.push(`wrote the validator page to ${opts.page} (${r.bytes} bytes); open it in a browser, it makes no request`)
    return 0
  }
  const texts = readConfig(opts.dir, { followSymlinks: opts.followSymlinks })
  const engine = loadEngine(opts.dir, texts)
  const diagnostics = engine.diagnostics()
  const settings = engine.settings()
  const decision = opts.question ? decide(engine, opts.question) : null
  const expected = opts.expect === null ? null : checkExpectations(engine, readExpectFile(opts.expect, opts.followSymlinks))
  const compared = opts.compare ? compare.compareWith102(engine, Object.fromEntries(FILES.map((f) => [f, texts[f].text]))) : null
  if (opts.question && !decision.client.valid) throw new Fail(`--ip '${opts.question.ip}' is not an IPv4 or IPv6 address`)

  const shown = (file) => path.join(opts.dir, file)
  if (opts.format === 'json') {
    const list = diagnostics.map((d) => ({
      file: d.file,
      path: shown(d.file),
      line: d.line,
      column: d.column,
      severity: d.severity,
      code: d.code,
      message: d.message,
    }))
    const doc = { diagnostics: list, settings }
    if (decision) doc.decision = { client: decision.client, recipients: decision.recipients }
    if (expected) doc.expectations = expectJson(expected, opts.expect)
    if (compared) doc.comparison = compare.jsonReport(compared, shown)
    out.push({ json: doc })
  } else {
    const base = process.env.GITHUB_WORKSPACE || process.cwd()
    for (const d of diagnostics) {
      if (opts.format === 'github') {
        const rel = path.relative(base, path.resolve(shown(d.file)))
        out.push(githubLine(d, rel.startsWith('..') ? path.resolve(shown(d.file)) : rel))
      } else out.push(formatDiagnostic(d, shown(d.file)))
    }
    if (decision) out.push(...decisionText(decision))
    out.push(settingsText(settings))
    out.push(`${countText(diagnostics)} in ${path.join(opts.dir, path.sep)}`)
    if (expected && opts.format === 'github') {
      const rel = path.relative(base, path.resolve(opts.expect))
      out.push(...expectAnnotations(expected, rel.startsWith('..') ? path.resolve(opts.expect) : rel).map((a) => ({ annotation: a })))
      out.push(expectSummary(expected, opts.expect))
    } else if (expected) out.push(...expectText(expected, opts.expect))
    if (compared && opts.format === 'github') {
      const rel = (file) => {
        const r = path.relative(base, path.resolve(shown(file)))
        return r.startsWith('..') ? path.resolve(shown(file)) : r
      }
      out.push(...compare.annotations(compared, rel).map((a) => ({ annotation: a })))
      out.push(compare.summary(compared, path.join(opts.dir, path.sep)))
    } else if (compared) out.push(...compare.textLines(compared, shown, path.join(opts.dir, path.sep)))
  }
  const c = counts(diagnostics)
  return c.error || (opts.strict && c.warning) || (expected && !expected.ok) || (compared && compared.total) ? 1 : 0
}

/* The one way out: every line relay-check writes passes here, whatever
 * its origin.  An entry is a line of text (safeLine: escaped, masked, no
 * runner command), { annotation: [kind, props, data] } (a workflow
 * command, escaped as GitHub documents it) or { json: value } (safeJson). */
function write(stream, entries) {
  const lines = entries.map((e) =>
    typeof e === 'string' ? safeLine(e) : e.annotation ? githubCommand(...e.annotation) : safeJson(e.json, 2),
  )
  if (lines.length) stream.write(`${lines.join('\n')}\n`)
}

function run(argv = process.argv.slice(2)) {
  const out = []
  let status
  try {
    status = main(argv, out)
  } catch (err) {
    const msg = err instanceof Fail ? err.message : `internal error: ${err?.message ?? err}`
    const lines = [`relay-check: ${msg}`]
    if (err instanceof Fail && /^(one CONFIG_DIR|--|Unknown option|Option|Unexpected argument)/.test(msg)) {
      lines.push("Try 'relay-check --help'.")
    }
    write(process.stderr, lines)
    return 2
  }
  write(process.stdout, out)
  return status
}

if (require.main === module) {
  process.exitCode = run()
}

module.exports = { run, readConfig }
