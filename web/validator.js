/*
 * validator.js - the script of dist/relay-validator.html (scripts/build-web.js).
 *
 * Plain DOM.  Uses the same relay.wasm, js/wasm-module.js, js/decide.js,
 * js/config-text.js and js/compare.js as relay-check, inlined before this script, so the page
 * and the CLI cannot disagree.  Makes no request: the module comes as base64
 * in RelayValidatorData.
 */
'use strict'
;(function () {
  const { RelayCore, FILES } = globalThis.RelayWasm
  const { decide, splitRecipients } = globalThis.RelayDecide
  const { sizeProblem, decodeConfigBytes, counts, countText } = globalThis.RelayConfigText
  // every text the page shows: control and bidi characters escaped,
  // passwords of routes masked (js/safe-text.js, as relay-check prints them)
  const { escapeText: shown, maskRoute } = globalThis.RelaySafeText
  const DATA = globalThis.RelayValidatorData
  // "What changes if I switch?" (js/compare.js, as relay-check --compare 1.0.2)
  const { compareWith102, summary: compareSummary } = globalThis.RelayCompare

  // the dest_domains hook runs first: what it refuses stays refused
  const ALL_WITH_DEST_DOMAINS = 'every recipient relay_dest_domains.ini does not refuse is accepted'
  const EFFECT = {
    acl: ['relay_acl_allow is consulted', 'relay_acl_allow is not consulted'],
    force_routing: ['outbound uses the nexthop routes', 'outbound looks up MX records'],
    dest_domains: ['relay_dest_domains.ini actions apply', 'relay_dest_domains.ini actions are ignored'],
    all: ['every recipient is accepted: an OPEN RELAY', 'off'],
  }
  const LOUD = new Set(['open-relay', 'acl-whole-internet'])
  const SEVERITY = { error: 'error', warning: 'warning', info: 'note' }
  const RANK = { error: 3, warning: 2, info: 1 }

  const $ = (id) => document.getElementById(id)
  let core = null
  const editors = {} // file -> { ta, gutter, list, stat }
  // file -> { value, diagnostics }: the warnings of the last file opened into
  // that editor, which hold while its text is as it was read
  const opened = {}

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue
      if (k === 'class') node.className = v
      else if (k === 'text') node.textContent = shown(v)
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
      else node.setAttribute(k, v === true ? '' : v)
    }
    for (const kid of kids.flat()) if (kid != null) node.append(typeof kid === 'string' ? shown(kid) : kid)
    return node
  }

  const idOf = (file) => `ed-${file.replace(/[^a-z0-9]+/gi, '-')}`

  function base64Bytes(b64) {
    const bin = atob(b64)
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  }

  /* The offsets [start, end) of line `n` (from 1) in text ended by CR, LF or CRLF. */
  function lineSpan(text, n) {
    const re = /\r\n|\r|\n/g
    let start = 0
    for (let line = 1; line < n; line++) {
      const m = re.exec(text)
      if (!m) break
      start = m.index + m[0].length
    }
    re.lastIndex = start
    const m = re.exec(text)
    return [start, m ? m.index : text.length]
  }

  function goToLine(file, line) {
    const { ta } = editors[file]
    const [start, end] = lineSpan(ta.value, line)
    ta.focus()
    ta.setSelectionRange(start, end)
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20
    ta.scrollTop = Math.max(0, (line - 1) * lh - ta.clientHeight / 3)
    syncGutter(file)
  }

  function syncGutter(file) {
    const { ta, gutter } = editors[file]
    gutter.scrollTop = ta.scrollTop
  }

  function makeEditor(file) {
    const id = idOf(file)
    const ta = el('textarea', {
      id,
      spellcheck: 'false',
      autocomplete: 'off',
      autocapitalize: 'off',
      wrap: 'off',
      'aria-describedby': `${id}-stat`,
    })
    const gutter = el('pre', { class: 'gutter', 'aria-hidden': 'true' })
    const code = el('div', { class: 'code' }, gutter, ta)
    const stat = el('span', { class: 'fstat', id: `${id}-stat` })
    const list = el('ul', { class: 'diags', 'aria-label': `${file} diagnostics` })
    const box = el('div', { class: 'editor', 'data-file': file }, el('div', { class: 'editor-head' }, el('label', { class: 'fname', for: id, text: file }), stat), code, list)
    ta.addEventListener('input', () => {
      notice('')
      schedule(file)
    })
    ta.addEventListener('scroll', () => syncGutter(file))
    code.addEventListener('dragover', (e) => {
      e.preventDefault()
      code.classList.add('drop')
    })
    code.addEventListener('dragleave', () => code.classList.remove('drop'))
    code.addEventListener('drop', (e) => {
      e.preventDefault()
      code.classList.remove('drop')
      if (e.dataTransfer?.files?.length) openFiles(e.dataTransfer.files, file)
    })
    editors[file] = { ta, gutter, list, stat }
    return box
  }

  /* ---- loading text into the module ---- */

  const pending = new Set()
  let timer = 0
  function schedule(file) {
    pending.add(file)
    document.documentElement.dataset.busy = 'true' // until the module has the text
    clearTimeout(timer)
    timer = setTimeout(flush, editors[file].ta.value.length > 200000 ? 250 : 60)
  }

  function flush() {
    clearTimeout(timer)
    for (const file of pending) {
      try {
        const { value } = editors[file].ta
        core.load(file, value, opened[file] && opened[file].value === value ? opened[file].diagnostics : [])
      } catch (err) {
        notice(`relay.wasm could not take ${file}: ${err.message}`)
      }
    }
    pending.clear()
    render()
    delete document.documentElement.dataset.busy
  }

  function notice(text) {
    $('notice').textContent = shown(text)
  }

  async function openFiles(list, target) {
    const files = Array.from(list)
    const msgs = []
    for (const f of files) {
      const dest = FILES.includes(f.name) ? f.name : files.length === 1 ? target : null
      if (!dest) {
        msgs.push(`${f.name}: not one of ${FILES.join(', ')}; drop it onto the editor it belongs to`)
        continue
      }
      if (sizeProblem(f.size)) {
        msgs.push(`${f.name}: ${sizeProblem(f.size)}`)
        continue
      }
      // read as the plugin reads it: bytes that are not UTF-8 become U+FFFD,
      // with a warning at their line
      const { text, diagnostics } = decodeConfigBytes(new Uint8Array(await f.arrayBuffer()), dest)
      const { ta } = editors[dest]
      ta.value = text
      opened[dest] = { value: ta.value, diagnostics }
      pending.add(dest)
      const odd = diagnostics.length ? ` (bytes that are not UTF-8 on ${diagnostics.length === 1 ? 'one line' : `${diagnostics.length} lines`}, read as Haraka reads them)` : ''
      msgs.push(`${f.name} opened in ${dest}${odd}`)
    }
    notice(msgs.join('; '))
    flush()
  }

  /* ---- drawing ---- */

  function diagItem(d) {
    const where = d.line ? `line ${d.line}${d.column ? `:${d.column}` : ''}` : null
    return el(
      'li',
      { class: d.severity, 'data-file': d.file, 'data-line': d.line, 'data-column': d.column, 'data-severity': d.severity, 'data-code': d.code },
      where ? el('button', { type: 'button', class: 'goto', 'aria-label': `go to ${d.file} ${where}`, text: where, onclick: () => goToLine(d.file, d.line) }) : null,
      el('span', { class: 'sev', text: SEVERITY[d.severity] || d.severity }),
      el('span', { class: 'msg', text: d.message }),
      ' ',
      el('span', { class: 'dcode', text: `[${d.code}]` }),
    )
  }

  function drawEditor(file, diags) {
    const { ta, gutter, list, stat } = editors[file]
    const worst = new Map()
    for (const d of diags) if (d.line && (RANK[d.severity] || 0) > (RANK[worst.get(d.line)] || 0)) worst.set(d.line, d.severity)
    const n = ta.value.split(/\r\n|\r|\n/).length
    const frag = document.createDocumentFragment()
    for (let i = 1; i <= n; i++) {
      const sev = worst.get(i)
      frag.append(el('span', { class: sev, title: sev ? SEVERITY[sev] : null, text: String(i) }))
    }
    gutter.replaceChildren(frag)
    list.replaceChildren(...diags.map(diagItem))
    const c = counts(diags)
    stat.textContent = countText(diags)
    stat.className = `fstat${c.error ? ' has-error' : c.warning ? ' has-warning' : ''}`
    syncGutter(file)
  }

  function drawSummary(all, settings) {
    $('counts').textContent = `All three files: ${countText(all)}`
    // each switch's default as relay.wasm has it (relay_abi), in its order
    const DEFAULTS = core.abi.defaults
    const rows = Object.keys(DEFAULTS).map((k) => {
      const v = settings[k]
      const changed = v !== DEFAULTS[k]
      return el(
        'tr',
        {},
        el('td', { text: k }),
        el('td', { class: k === 'all' && v ? 'danger' : changed ? 'changed' : null, text: String(v) }),
        el('td', { text: String(DEFAULTS[k]) }),
        el('td', { text: k === 'all' && v && settings.dest_domains ? ALL_WITH_DEST_DOMAINS : EFFECT[k][v ? 0 : 1] }),
      )
    })
    $('settings').tBodies[0].replaceChildren(...rows)
    const loud = all.filter((d) => LOUD.has(d.code))
    $('alerts').replaceChildren(
      ...(loud.length
        ? [
            el(
              'div',
              { class: 'alert' },
              el('h3', { text: 'Open relay' }),
              el(
                'ul',
                {},
                loud.map((d) => el('li', {}, el('button', { type: 'button', class: 'goto', text: `${d.file}:${d.line}`, onclick: () => goToLine(d.file, d.line) }), d.message)),
              ),
            ),
          ]
        : []),
    )
  }

  function shellWord(s) {
    return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`
  }

  function drawAnswer() {
    const ip = $('ip').value // as Haraka hands it to the plugin: not trimmed
    const auth = $('auth').checked
    const rcpts = splitRecipients($('rcpts').value)
    const words = ['relay-check', '--ip', shellWord(ip || '?')]
    if (auth) words.push('--auth')
    for (const r of rcpts) words.push('--rcpt', shellWord(r))
    words.push('CONFIG_DIR')
    $('command').textContent = shown(words.join(' '))
    let dec
    try {
      dec = decide(core, { ip, auth, rcpts })
    } catch (err) {
      $('answer').replaceChildren(el('p', { class: 'verdict bad', text: `relay.wasm failed: ${err.message}` }))
      return
    }
    const c = dec.client
    const verdict = el(
      'p',
      { class: `verdict ${!c.valid ? 'bad' : c.relay ? 'relay' : 'norelay'}`, 'data-relay': String(c.relay), 'data-why': c.why, 'data-line': c.line },
      el('strong', { text: !c.valid ? (c.ip ? 'Not an IP address. ' : 'No client address. ') : c.relay ? 'The client may relay. ' : 'The client does not relay. ' }),
      c.explain,
    )
    const items = dec.recipients.map((r) =>
      el(
        'li',
        {
          class: r.accepted ? 'accepted' : 'refused',
          'data-address': r.address,
          'data-code': r.code,
          'data-message': r.message,
          'data-reason': r.reason,
          'data-line': r.line,
          // the relay_dest_domains.ini key that decided (.example.com for a subdomain key)
          'data-key': r.key,
          'data-route': r.route ? r.route.status : 'none',
          'data-nexthop': r.route && r.route.nexthop ? JSON.stringify(maskRoute(r.route.nexthop)) : null,
          // what outbound is handed (an [IPv6] URL host without brackets)
          'data-outbound': r.route && r.route.outbound ? JSON.stringify(maskRoute(r.route.outbound)) : null,
        },
        el('span', { class: 'addr', text: `<${r.address}>` }),
        el('span', { class: 'smtp', text: `${r.code} ${r.accepted ? 'accepted' : 'refused'}` }),
        r.accepted ? null : el('p', {}, 'Answer: ', el('code', { text: `${r.code} ${r.message}` })),
        el('p', { text: `Why: ${r.explain}` }),
        r.route ? el('p', { class: `route ${r.route.status}`, text: `Route: ${r.route.explain}` }) : null,
      ),
    )
    $('answer').replaceChildren(verdict, items.length ? el('ol', { class: 'rcpts', 'aria-label': 'recipients' }, items) : el('p', { class: 'hint', text: 'Add recipients to see what each one is answered.' }))
  }

  /* The differences from 1.0.2 for the texts in force, asked for with the
   * button (a big config takes seconds).  Each is relay-check's line, with
   * its file and line a button to the line. */
  function drawComparison() {
    const texts = {}
    for (const file of FILES) texts[file] = core.texts[FILES.indexOf(file)] || ''
    let report
    try {
      report = compareWith102(core, texts)
    } catch (err) {
      $('compare-status').textContent = shown(`the comparison failed: ${err.message}`)
      return
    }
    $('compare-status').textContent = shown(compareSummary(report, 'these files'))
    $('differences').replaceChildren(
      ...report.items.map((it) =>
        el(
          'li',
          { class: `difference ${it.direction}`, 'data-file': it.file, 'data-line': it.line, 'data-direction': it.direction, 'data-code': it.code },
          el('button', { type: 'button', class: 'goto', text: `${it.file}:${it.line || ''}`, onclick: () => it.line && goToLine(it.file, it.line) }),
          el('strong', { text: ` ${it.direction}: ` }),
          el('span', { class: 'msg', text: it.message }),
          el('code', { text: ` [${it.code}]` }),
        ),
      ),
    )
  }

  function render() {
    // the files changed: an earlier comparison no longer holds
    $('differences').replaceChildren()
    $('compare-status').textContent = ''
    const all = core.diagnostics()
    for (const file of FILES) drawEditor(file, all.filter((d) => d.file === file))
    drawSummary(all, core.settings())
    drawAnswer()
  }

  async function start() {
    const box = $('editors')
    for (const file of FILES) box.append(makeEditor(file))
    for (const id of ['ip', 'auth', 'rcpts']) {
      for (const ev of ['input', 'change']) $(id).addEventListener(ev, () => core && drawAnswer())
    }
    $('try-form').addEventListener('submit', (e) => e.preventDefault())
    $('compare').addEventListener('click', () => core && drawComparison())
    $('open').addEventListener('change', (e) => {
      if (e.target.files.length) openFiles(e.target.files, null)
      e.target.value = ''
    })
    $('about').textContent = DATA.about
    try {
      core = new RelayCore(await WebAssembly.compile(base64Bytes(DATA.wasm)))
    } catch (err) {
      $('loading').textContent = `relay.wasm could not be started in this browser: ${err.message}`
      return
    }
    for (const file of FILES) {
      editors[file].ta.value = DATA.defaults[file] || ''
      pending.add(file)
    }
    $('loading').remove()
    flush()
    document.documentElement.dataset.ready = 'true'
  }

  start()
})()
