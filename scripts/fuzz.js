/*
 * fuzz.js - builds the libFuzzer targets of test/fuzz (preset fuzz: clang,
 * ASan + UBSan) and runs each one in turn.
 *
 *   node scripts/fuzz.js                  every target for 12 s (what npm test runs)
 *   node scripts/fuzz.js --time 1800      the long campaign: 30 min per target
 *   node scripts/fuzz.js --only acl,ini   some targets
 *   node scripts/fuzz.js --replay         run the seed corpus only (no new inputs)
 *   node scripts/fuzz.js --json FILE      also write the figures as JSON
 *   node scripts/fuzz.js --readme         also write them as the table of
 *                                         test/fuzz/README.md ("Figures",
 *                                         between its fuzz-figures markers);
 *                                         `npm run fuzz:long` does
 *
 * Each target starts from its seeds in test/fuzz/corpus/<target> (never
 * written to) and keeps what it finds in build/fuzz/corpus/<target>, so a
 * later run goes on from there.  A crash or a broken property stops with
 * the input saved under build/fuzz/artifacts/: add it to
 * test/fuzz/corpus/<target>/ as regress-<what> and fix the cause.
 * The output ends with one line of figures per target (executions, edges
 * covered, features, corpus size).
 */
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { ensureTools, run } = require('./tools')

const ROOT = path.join(__dirname, '..')
const BUILD = path.join(ROOT, 'build', 'fuzz')
const FUZZ = path.join(ROOT, 'test', 'fuzz')
const README = path.join(FUZZ, 'README.md')
const BEGIN = '<!-- fuzz-figures:begin: written by `node scripts/fuzz.js --readme` (npm run fuzz:long); edits here are overwritten -->'
const END = '<!-- fuzz-figures:end -->'

/* target: the dictionaries it is given, and the longest input tried */
const TARGETS = {
  ini: { dicts: ['ini'], maxLen: 8192 },
  acl: { dicts: ['addr'], maxLen: 8192 },
  domains: { dicts: ['ini', 'json', 'addr'], maxLen: 8192 },
  client: { dicts: ['addr'], maxLen: 256 },
  rcpt: { dicts: ['addr'], maxLen: 256 },
  sequence: { dicts: ['ini', 'json', 'addr'], maxLen: 8192 },
}

function parseArgs(argv) {
  const opts = { time: 12, only: Object.keys(TARGETS), replay: false, json: null, readme: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--time') opts.time = Number(argv[++i])
    else if (a === '--only') opts.only = argv[++i].split(',')
    else if (a === '--replay') opts.replay = true
    else if (a === '--json') opts.json = path.resolve(argv[++i])
    else if (a === '--readme') opts.readme = true
    else {
      console.error(`fuzz.js: unknown argument ${a}`)
      process.exit(2)
    }
  }
  if (!(opts.time > 0)) throw new Error('--time takes seconds')
  for (const t of opts.only) if (!TARGETS[t]) throw new Error(`no fuzz target '${t}' (${Object.keys(TARGETS).join(', ')})`)
  return opts
}

/* inih and cJSON from a build tree that has them already, else fetched */
function thirdPartyArgs() {
  for (const preset of ['native', 'wasm', 'bench']) {
    const dir = path.join(ROOT, 'build', preset, 'third_party')
    if (fs.existsSync(path.join(dir, 'inih', 'ini.c')) && fs.existsSync(path.join(dir, 'cjson', 'cJSON.c'))) {
      return [`-DRELAY_INIH_DIR=${path.join(dir, 'inih')}`, `-DRELAY_CJSON_DIR=${path.join(dir, 'cjson')}`]
    }
  }
  return []
}

function build(targets) {
  run('cmake', ['--preset', 'fuzz', '-Wno-dev', ...thirdPartyArgs()], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  run('cmake', ['--build', BUILD, '-j', '2', '--target', ...targets.map((t) => `fuzz_${t}`)], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

/* libFuzzer takes one dictionary: the target's ones joined */
function dictFor(target) {
  const out = path.join(BUILD, 'dict', `${target}.dict`)
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, TARGETS[target].dicts.map((d) => fs.readFileSync(path.join(FUZZ, 'dict', `${d}.dict`), 'utf8')).join('\n'))
  return out
}

function figures(log) {
  const stat = (name) => {
    const m = log.match(new RegExp(`stat::${name}:\\s*(\\d+)`))
    return m ? Number(m[1]) : null
  }
  const done = [...log.matchAll(/#(\d+)\s+(?:DONE|INITED|NEW|REDUCE|pulse)\s+cov: (\d+) ft: (\d+) corp: (\d+)\/(\d+)(\w*)/g)].pop()
  return {
    execs: stat('number_of_executed_units') ?? (done ? Number(done[1]) : null),
    execsPerSec: stat('average_exec_per_sec'),
    newUnits: stat('new_units_added'),
    peakRssMb: stat('peak_rss_mb'),
    edges: done ? Number(done[2]) : null,
    features: done ? Number(done[3]) : null,
    corpus: done ? Number(done[4]) : null,
  }
}

function fuzzOne(target, opts) {
  const work = path.join(BUILD, 'corpus', target)
  const artifacts = path.join(BUILD, 'artifacts')
  const logs = path.join(BUILD, 'logs')
  for (const d of [work, artifacts, logs]) fs.mkdirSync(d, { recursive: true })
  const seeds = path.join(FUZZ, 'corpus', target)
  const args = [
    ...(opts.replay ? [] : [work]),
    seeds,
    `-dict=${dictFor(target)}`,
    `-max_len=${TARGETS[target].maxLen}`,
    `-artifact_prefix=${artifacts}${path.sep}${target}-`,
    '-print_final_stats=1',
    '-timeout=25',
    '-rss_limit_mb=2048',
    opts.replay ? '-runs=0' : `-max_total_time=${opts.time}`,
  ]
  const started = Date.now()
  const r = spawnSync(path.join(BUILD, `fuzz_${target}`), args, {
    cwd: BUILD,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: (opts.replay ? 600 : opts.time + 120) * 1000,
  })
  const log = `${r.stdout || ''}${r.stderr || ''}`
  fs.writeFileSync(path.join(logs, `${target}.log`), log)
  const result = { target, seconds: Math.round((Date.now() - started) / 100) / 10, ok: r.status === 0, ...figures(log) }
  if (!result.ok) {
    const artifact = log.match(/Test unit written to (\S+)/)
    result.artifact = artifact ? artifact[1] : null
    result.tail = log.split('\n').slice(-60).join('\n')
  }
  return result
}

/* ---- the table of test/fuzz/README.md ---------------------------------- */

/* First line of a command's output, or null (git and clang are only asked). */
function ask(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim().split('\n')[0] : null
}

const num = (v) => (v == null ? '' : Number(v).toLocaleString('en-US'))

/* The Markdown between the markers: what ran, where, and one row per target. */
function figuresBlock(opts, results, started, load) {
  const commit = ask('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown'
  // read only: whether the sources that were fuzzed differ from that commit
  const dirty = ask('git', ['status', '--porcelain', '--', 'src', 'test/fuzz', 'CMakeLists.txt', 'CMakePresets.json'])
  const args = [`--time ${opts.time}`, opts.replay ? '--replay' : null, opts.only.length < Object.keys(TARGETS).length ? `--only ${opts.only.join(',')}` : null]
  const lines = [
    BEGIN,
    '',
    `**${opts.replay ? 'Replay of the seed corpora' : `${opts.time} s per target`}**: \`node scripts/fuzz.js ${args.filter(Boolean).join(' ')} --readme\`, ` +
      `started ${started.toISOString().replace(/\.\d+Z$/, 'Z')}, sources of commit ${commit}${dirty ? ' with uncommitted changes' : ''}; ` +
      `${os.cpus().length} cores (load average ${load.map((l) => l.toFixed(2)).join(', ')} at the start), ${ask('clang', ['--version']) ?? 'clang'}, ` +
      'one target at a time, each going on from the corpus kept in `build/fuzz/corpus/`.',
    '',
    '| target | length | executions | exec/s | cov | ft | corpus (new) | peak RSS | result |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ]
  for (const r of results) {
    const corpus = r.corpus == null ? '' : `${num(r.corpus)}${r.newUnits == null ? '' : ` (+${num(r.newUnits)})`}`
    const result = r.ok ? 'ok' : `FAILED${r.artifact ? ` (${path.relative(ROOT, r.artifact)})` : ''}`
    lines.push(`| \`fuzz_${r.target}\` | ${num(Math.round(r.seconds))} s | ${num(r.execs)} | ${num(r.execsPerSec)} | ${num(r.edges)} | ${num(r.features)} | ${corpus} | ${r.peakRssMb == null ? '' : `${r.peakRssMb} MB`} | ${result} |`)
  }
  lines.push('', END)
  return lines.join('\n')
}

/* Puts the block between the markers of test/fuzz/README.md. */
function writeReadme(block) {
  const text = fs.readFileSync(README, 'utf8')
  const a = text.indexOf(BEGIN)
  const b = text.indexOf(END)
  if (a < 0 || b < a) throw new Error(`${path.relative(ROOT, README)} has no fuzz-figures markers (${BEGIN} ... ${END})`)
  fs.writeFileSync(README, text.slice(0, a) + block + text.slice(b + END.length))
  console.log(`figures written to ${path.relative(ROOT, README)}`)
}

function main() {
  const opts = parseArgs(process.argv.slice(2))
  const started = new Date()
  const load = os.loadavg()
  ensureTools()
  build(opts.only)
  const results = []
  for (const target of opts.only) {
    const r = fuzzOne(target, opts)
    results.push(r)
    const line = `fuzz_${target}: ${r.ok ? 'ok' : 'FAILED'} ${r.seconds} s, ${r.execs} execs (${r.execsPerSec}/s), cov ${r.edges} edges, ft ${r.features}, corpus ${r.corpus} (+${r.newUnits} new)`
    console.log(line)
    if (!r.ok) {
      console.error(r.tail)
      console.error(
        `fuzz_${target} found a crash or a broken property${r.artifact ? `; input saved as ${r.artifact}` : ''}.\n` +
          `Reproduce: ${path.relative(ROOT, path.join(BUILD, `fuzz_${target}`))} ${r.artifact || 'INPUT'}\n` +
          `Then add the input to test/fuzz/corpus/${target}/ as regress-<what> and fix the cause.`,
      )
    }
  }
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ time: opts.time, replay: opts.replay, results }, null, 2) + '\n')
  if (opts.readme) writeReadme(figuresBlock(opts, results, started, load)) // failed runs too: the table says so
  const failed = results.filter((r) => !r.ok)
  if (failed.length) {
    console.error(`fuzzing failed: ${failed.map((r) => r.target).join(', ')}`)
    process.exit(1)
  }
}

main()
