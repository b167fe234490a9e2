/*
 * page.js - the validator page for `relay-check --page FILE`.
 *
 * The page is one self-contained HTML file (scripts/build-web.js; the
 * README's "The validator page").  Run from a clone of the repository
 * (web/ and scripts/build-web.js are there), it is built from the sources
 * as they are, so it never lags behind them; in the installed package,
 * which holds no web/, it is the page built when the package was packed
 * (`npm pack` runs the prepack script: dist/relay-validator.html, listed
 * in package.json "files").
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const BUILT = path.join(ROOT, 'dist', 'relay-validator.html')
const BUILDER = path.join(ROOT, 'scripts', 'build-web.js')
const SOURCE = path.join(ROOT, 'web', 'validator.html')

/* Writes the page to `file` (written whole, then renamed into place) and
 * returns { path, bytes, from: 'sources' | 'package' }.  Throws an Error
 * with a one-line message when there is no page to write or it cannot be
 * written. */
function writePage(file) {
  const out = path.resolve(file)
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new Error('it is a directory')
  if (fs.existsSync(BUILDER) && fs.existsSync(SOURCE)) {
    const { build } = require(BUILDER)
    const r = build(out)
    return { path: out, bytes: r.bytes, from: 'sources' }
  }
  if (!fs.existsSync(BUILT)) {
    throw new Error(`the validator page is not in this package (${path.relative(ROOT, BUILT)} is missing): reinstall it, or build it from the repository with npm run build:web`)
  }
  const html = fs.readFileSync(BUILT)
  const tmp = `${out}.${process.pid}.tmp`
  try {
    fs.writeFileSync(tmp, html)
    fs.renameSync(tmp, out)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw err
  }
  return { path: out, bytes: html.length, from: 'package' }
}

module.exports = { writePage, BUILT }
