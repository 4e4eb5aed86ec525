/* app.js - the tuna dashboard: reads the validator's public JSON API every
 * 2 s and renders tasks, leaderboards, per-task results with loss charts,
 * flags, miners and the participants' report.
 *
 * Safety: every string from the API (miners choose their names, notes and
 * messages) reaches the page only as a text node or through setAttribute;
 * nothing here uses innerHTML, insertAdjacentHTML or document.write. The
 * validator also sends a Content-Security-Policy that forbids inline script.
 *
 * Test hooks: <body data-ready="1"> after the first complete render,
 * data-updates counts renders; rows carry data-task / data-miner / data-owner;
 * flag reasons are in elements of class "flag-reason". */
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const MAX_DETAIL = 12; /* newest tasks shown with their full results */
  const DETAIL_REFETCH_TICKS = 15; /* finished tasks are re-read every ~30 s */
  const TERMINAL = new Set(['scored', 'failed']);

  let clockOffset = 0; /* validator clock - browser clock, ms */
  let tick = 0;
  let lastOk = 0;
  const detailCache = new Map(); /* task id -> {state, data, tick} */
  const lastKey = {}; /* section -> JSON of what it shows (skip identical re-renders) */

  /* ---- DOM helpers: strings always become text nodes ---------------------- */

  function add(el, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) add(el, k);
      else if (k instanceof Node) el.appendChild(k);
      else el.appendChild(document.createTextNode(String(k)));
    }
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      el.setAttribute(k, String(v));
    }
  }

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    return add(el, kids);
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    return add(el, kids);
  }

  function replace(id, node) {
    const el = document.getElementById(id);
    el.replaceChildren(node);
  }

  function changed(section, value) {
    const key = JSON.stringify(value);
    if (lastKey[section] === key) return false;
    lastKey[section] = key;
    return true;
  }

  /* ---- formatting ------------------------------------------------------------ */

  const isNum = (x) => typeof x === 'number' && isFinite(x);
  const fmtLoss = (x) => (isNum(x) ? x.toFixed(4) : '—');
  const fmtScore = (x) => (isNum(x) ? x.toFixed(3) : '—');
  const fmtProduct = (x) => (isNum(x) ? (x !== 0 && Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toPrecision(4)) : '—');
  const str = (x) => (x === null || x === undefined ? '' : String(x));
  const isInterval = (v) => Array.isArray(v) && v.length === 2 && isNum(v[0]) && isNum(v[1]);

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  function fmtTime(ms) {
    if (!isNum(ms) || ms <= 0) return '—';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function fmtDuration(ms) {
    let t = Math.max(0, Math.floor(ms / 1000));
    const hh = Math.floor(t / 3600); t -= hh * 3600;
    const mm = Math.floor(t / 60); const ss = t - mm * 60;
    return (hh ? hh + ':' + pad2(mm) : String(mm)) + ':' + pad2(ss);
  }

  function now() { return Date.now() + clockOffset; }

  function stateBadge(state) {
    const st = str(state) || 'unknown';
    return h('span', { class: 'state state-' + st.replace(/[^a-z]/g, '') }, st);
  }

  function statusBadge(status) {
    const st = str(status) || 'unknown';
    return h('span', { class: 'sub-status sub-' + st.replace(/[^a-z]/g, '') }, st);
  }

  /* A live countdown for tasks in training; the deadline's time otherwise. */
  function deadlineCell(t) {
    if (!isNum(t.deadline) || t.deadline <= 0) return h('span', { class: 'muted' }, '—');
    if (t.state === 'training') {
      return h('span', { class: 'countdown', 'data-deadline': t.deadline, title: 'deadline ' + fmtTime(t.deadline) },
        countdownText(t.deadline));
    }
    return h('span', { class: 'deadline' }, fmtTime(t.deadline));
  }

  function countdownText(deadline) {
    const left = deadline - now();
    return left > 0 ? fmtDuration(left) + ' left' : 'deadline passed';
  }

  function updateCountdowns() {
    for (const el of document.querySelectorAll('.countdown[data-deadline]')) {
      const d = Number(el.getAttribute('data-deadline'));
      el.textContent = countdownText(d);
      el.classList.toggle('urgent', d - now() < 60000);
    }
  }

  function table(caption, headers, rows, attrs) {
    return h('table', attrs || {},
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h('thead', null, h('tr', null, headers.map((x) =>
        h('th', { scope: 'col', class: typeof x === 'object' ? x.cls : null }, typeof x === 'object' ? x.t : x)))),
      h('tbody', null, rows));
  }

  function empty(text) { return h('p', { class: 'empty' }, text); }

  /* ---- sections --------------------------------------------------------------- */

  function renderTasks(tasks) {
    if (!tasks.length) return replace('tasks', empty('No tasks yet.'));
    const rows = tasks.map((t) => h('tr', { 'data-task': t.id, 'data-state': str(t.state) },
      h('th', { scope: 'row' }, h('a', { href: '#task-' + Number(t.id) }, '#' + t.id)),
      h('td', null, str(t.model)),
      h('td', null, t.dataset === null || t.dataset === undefined
        ? h('span', { class: 'muted', title: 'the dataset is made public once the task is scored' }, 'hidden')
        : str(t.dataset)),
      h('td', null, stateBadge(t.state),
        t.failure_reason ? h('div', { class: 'failure' }, str(t.failure_reason)) : null),
      h('td', { class: 'num' }, fmtTime(t.created_at)),
      h('td', { class: 'num' }, deadlineCell(t)),
      h('td', { class: 'num' }, isNum(t.minutes) ? String(Math.round(t.minutes * 10) / 10) : '—')));
    replace('tasks', table('Tasks, newest first',
      ['Task', 'Model', 'Dataset', 'State', 'Created', 'Deadline', { t: 'Limit (min)', cls: 'num' }], rows,
      { id: 'tasks-table' }));
  }

  function byRank(a, b) {
    const ra = isNum(a.rank) ? a.rank : 1e9, rb = isNum(b.rank) ? b.rank : 1e9;
    if (ra !== rb) return ra - rb;
    return (isNum(b.product) ? b.product : 0) - (isNum(a.product) ? a.product : 0);
  }

  function counts(r) {
    return ['offers', 'accepted', 'rejected', 'valid', 'invalid'].map((k) =>
      h('td', { class: 'num c-' + k }, isNum(r[k]) ? String(r[k]) : '0'));
  }

  const COUNT_HEADERS = [{ t: 'Offers', cls: 'num' }, { t: 'Accepted', cls: 'num' }, { t: 'Rejected', cls: 'num' },
    { t: 'Valid', cls: 'num' }, { t: 'Invalid', cls: 'num' }];

  function renderLeaderboard(lb) {
    const miners = (lb.leaderboard || []).slice().sort(byRank);
    const owners = (lb.owners || []).slice().sort(byRank);
    if (!miners.length) replace('leaderboard', empty('No scored tasks yet.'));
    else replace('leaderboard', table('Ranking per miner',
      [{ t: '#', cls: 'num' }, 'Miner', 'Owner', { t: 'Product', cls: 'num' }].concat(COUNT_HEADERS),
      miners.map((r) => h('tr', { 'data-miner': str(r.id), 'data-rank': r.rank, class: r.rank === 1 ? 'first' : null },
        h('td', { class: 'num rank' }, str(r.rank)),
        h('th', { scope: 'row', class: 'name' }, str(r.id)),
        h('td', { class: 'owner' }, str(r.owner)),
        h('td', { class: 'num product' }, fmtProduct(r.product)),
        counts(r))),
      { id: 'leaderboard-table' }));
    if (!owners.length) replace('owners', empty('No scored tasks yet.'));
    else replace('owners', table('Ranking per participant',
      [{ t: '#', cls: 'num' }, 'Participant', { t: 'Product', cls: 'num' }].concat(COUNT_HEADERS),
      owners.map((r) => h('tr', { 'data-owner': str(r.id), 'data-rank': r.rank, class: r.rank === 1 ? 'first' : null },
        h('td', { class: 'num rank' }, str(r.rank)),
        h('th', { scope: 'row', class: 'name' }, str(r.id)),
        h('td', { class: 'num product' }, fmtProduct(r.product)),
        counts(r))),
      { id: 'owners-table' }));
  }

  function flagItems(sub) {
    const flags = Array.isArray(sub.flags) ? sub.flags : [];
    const items = flags.map((f) => h('li', { class: 'flag', 'data-rule': str(f.rule) },
      h('span', { class: 'flag-rule' }, str(f.rule)), ' ',
      h('span', { class: 'flag-reason' }, str(f.reason))));
    const out = [];
    if (sub.status === 'invalid' && sub.reason) {
      out.push(h('div', { class: 'invalid-reason' }, 'invalid: ', h('span', { class: 'reason-text' }, str(sub.reason))));
    }
    if (items.length) out.push(h('ul', { class: 'flags' }, items));
    if (!out.length) out.push(h('span', { class: 'muted' }, '—'));
    return out;
  }

  function subOrder(a, b) {
    const rank = (x) => (x.status === 'valid' ? 0 : x.status === 'invalid' ? 1 : 2);
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    const sa = isNum(a.score) ? a.score : -1, sb = isNum(b.score) ? b.score : -1;
    if (sa !== sb) return sb - sa;
    return str(a.miner).localeCompare(str(b.miner));
  }

  function niceStep(span) {
    const raw = span / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  }

  function shortName(n) { return n.length > 14 ? n.slice(0, 13) + '…' : n; }

  /* Test (circle) and synthetic (square) loss per miner on a shared axis;
   * invalid submissions hollow and red with a cross. */
  function lossChart(task, subs) {
    const pts = subs.filter((x) => isNum(x.test_loss) || isNum(x.synth_loss));
    if (!pts.length) return empty('No losses yet: the chart appears once submissions are evaluated.');
    const vals = [];
    for (const p of pts) for (const v of [p.test_loss, p.synth_loss]) if (isNum(v)) vals.push(v);
    let lo = Math.min(...vals), hi = Math.max(...vals);
    const span0 = hi - lo;
    const padv = span0 > 0 ? span0 * 0.15 : Math.max(0.1 * Math.abs(hi), 0.05);
    lo = Math.max(0, lo - padv); hi = hi + padv;
    const step = niceStep(hi - lo);
    lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
    const colW = 92, left = 56, right = 16, top = 22, plotH = 170, bottom = 40;
    const W = left + right + colW * pts.length, H = top + plotH + bottom;
    const y = (v) => top + plotH - ((v - lo) / (hi - lo)) * plotH;
    const titleId = 'chart-title-' + Number(task.id);
    const g = [];
    g.push(s('title', { id: titleId }, 'Task ' + task.id + ': test and synthetic loss per miner'));
    for (let v = lo; v <= hi + step / 2; v += step) {
      const yy = y(v);
      g.push(s('line', { x1: left, x2: W - right, y1: yy, y2: yy, class: 'grid' }));
      g.push(s('text', { x: left - 6, y: yy + 4, class: 'tick', 'text-anchor': 'end' }, +v.toFixed(4) + ''));
    }
    g.push(s('text', { x: 12, y: top + plotH / 2, class: 'axis-label', transform: 'rotate(-90 12 ' + (top + plotH / 2) + ')',
      'text-anchor': 'middle' }, 'loss'));
    pts.forEach((p, i) => {
      const cx = left + colW * (i + 0.5);
      const invalid = p.status === 'invalid';
      const name = str(p.miner);
      const tip = name + ': test ' + fmtLoss(p.test_loss) + ', synthetic ' + fmtLoss(p.synth_loss) +
        (invalid ? ' (invalid' + (p.reason ? ': ' + str(p.reason) : '') + ')' : isNum(p.score) ? ', score ' + fmtScore(p.score) : '');
      const parts = [s('title', null, tip)];
      const xt = cx - 12, xs = cx + 12;
      if (isNum(p.test_loss) && isNum(p.synth_loss)) {
        parts.push(s('line', { x1: xt, x2: xs, y1: y(p.test_loss), y2: y(p.synth_loss), class: 'link' }));
      }
      if (isNum(p.test_loss)) parts.push(s('circle', { cx: xt, cy: y(p.test_loss), r: 6, class: 'pt-test' }));
      if (isNum(p.synth_loss)) {
        parts.push(s('rect', { x: xs - 5.5, y: y(p.synth_loss) - 5.5, width: 11, height: 11, class: 'pt-synth' }));
      }
      if (invalid) {
        const top2 = Math.min(isNum(p.test_loss) ? y(p.test_loss) : 1e9, isNum(p.synth_loss) ? y(p.synth_loss) : 1e9);
        parts.push(s('text', { x: cx, y: Math.max(top - 6, top2 - 12), class: 'cross', 'text-anchor': 'middle' }, '✕'));
      }
      parts.push(s('text', { x: cx, y: top + plotH + 18, class: 'xlabel', 'text-anchor': 'middle' }, shortName(name)));
      g.push(s('g', { class: 'miner' + (invalid ? ' invalid' : ''), 'data-miner': name }, parts));
    });
    g.push(s('line', { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: 'axis' }));
    return h('div', { class: 'chart-wrap' },
      s('svg', { class: 'loss-chart', viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
        'aria-labelledby': titleId }, g));
  }

  /* The weighted loss and its bootstrap interval (docs/scoring.md), and the
   * submission it shares a quality with when the two are within noise. */
  function weightedCell(x) {
    if (!isNum(x.weighted_loss)) return h('td', { class: 'num weighted' }, '—');
    const conf = isNum(x.confidence) ? Math.round(x.confidence * 100) + '% interval' : 'interval';
    return h('td', { class: 'num weighted' }, fmtLoss(x.weighted_loss),
      isInterval(x.interval)
        ? h('span', { class: 'interval', title: conf + ' of the weighted loss (bootstrap over rows)' },
          ' [' + fmtLoss(x.interval[0]) + ', ' + fmtLoss(x.interval[1]) + ']')
        : null,
      x.tied_with
        ? h('div', { class: 'tie', title: 'within noise: the same quality as this miner' }, '= ', str(x.tied_with))
        : null);
  }

  function taskCard(t, d) {
    const subs = (Array.isArray(d.submissions) ? d.submissions : []).slice().sort(subOrder);
    const id = Number(t.id);
    const rows = subs.map((x) => h('tr', {
      'data-miner': str(x.miner), 'data-status': str(x.status),
      class: x.status === 'invalid' ? 'invalid' : (x.flags && x.flags.length ? 'flagged' : null),
    },
    h('th', { scope: 'row', class: 'name' }, str(x.miner)),
    h('td', { class: 'owner' }, str(x.owner)),
    h('td', null, statusBadge(x.status),
      x.message && x.status !== 'valid' && x.status !== 'invalid'
        ? h('div', { class: 'message', title: str(x.message) }, str(x.message)) : null),
    h('td', { class: 'num test-loss' }, fmtLoss(x.test_loss)),
    h('td', { class: 'num synth-loss' }, fmtLoss(x.synth_loss)),
    weightedCell(x),
    h('td', { class: 'num score' }, fmtScore(x.score)),
    h('td', { class: 'flags-cell' }, flagItems(x)),
    h('td', { class: 'strategy', title: str(x.strategy) }, x.strategy ? str(x.strategy) : h('span', { class: 'muted' }, '—'))));
    return h('article', { class: 'task-card', id: 'task-' + id, 'data-task': id },
      h('header', { class: 'task-head' },
        h('h3', null, 'Task #' + id, ' ', h('span', { class: 'model' }, str(t.model))),
        stateBadge(t.state),
        t.dataset ? h('span', { class: 'dataset' }, 'dataset ', str(t.dataset)) : null,
        h('span', { class: 'task-deadline' }, deadlineCell(t))),
      t.failure_reason ? h('p', { class: 'failure' }, str(t.failure_reason)) : null,
      subs.length ? lossChart(t, subs) : null,
      subs.length
        ? table('Submissions for task ' + id,
          ['Miner', 'Owner', 'Status', { t: 'Test loss', cls: 'num' }, { t: 'Synth loss', cls: 'num' },
            { t: 'Weighted loss [interval]', cls: 'num' }, { t: 'Score', cls: 'num' }, 'Flags', 'Strategy'], rows, { class: 'subs' })
        : empty('No offers yet.'));
  }

  function renderDetails(list) {
    if (!list.length) return replace('task-details', empty('No tasks yet.'));
    const frag = document.createDocumentFragment();
    for (const { t, d } of list) frag.appendChild(taskCard(t, d));
    replace('task-details', frag);
  }

  function renderFlags(flags) {
    if (!flags.length) return replace('flags', empty('No flags raised.'));
    const list = flags.slice().sort((a, b) => (b.created_at || 0) - (a.created_at || 0) || (b.id || 0) - (a.id || 0));
    replace('flags', table('Flags raised by the anti-cheat rules, newest first',
      ['Time', 'Task', 'Miner', 'Owner', 'Rule', 'Reason'],
      list.map((f) => h('tr', { 'data-flag': f.id, 'data-miner': str(f.miner), 'data-task': f.task_id },
        h('td', { class: 'num' }, fmtTime(f.created_at)),
        h('td', null, h('a', { href: '#task-' + Number(f.task_id) }, '#' + f.task_id)),
        h('th', { scope: 'row', class: 'name' }, str(f.miner)),
        h('td', { class: 'owner' }, str(f.owner)),
        h('td', null, h('span', { class: 'flag-rule' }, str(f.rule))),
        h('td', null, h('span', { class: 'flag-reason' }, str(f.reason))))),
      { id: 'flags-table' }));
  }

  function renderMiners(miners) {
    if (!miners.length) return replace('miners', empty('No miners registered.'));
    replace('miners', table('Registered miners',
      ['Miner', 'Owner', 'Endpoint', 'Public key', 'Enabled'],
      miners.map((m) => h('tr', { 'data-miner': str(m.name), class: m.enabled ? null : 'disabled' },
        h('th', { scope: 'row', class: 'name' }, str(m.name)),
        h('td', { class: 'owner' }, str(m.owner)),
        h('td', null, h('code', null, str(m.endpoint))),
        h('td', { title: str(m.public_key) }, h('code', null, str(m.public_key).slice(0, 16) + (str(m.public_key).length > 16 ? '…' : ''))),
        h('td', null, m.enabled ? 'yes' : 'no'))),
      { id: 'miners-table' }));
  }

  function fmtBytes(n) {
    if (!isNum(n)) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }

  /* What the upload carried: kind, files and bytes, how many uploads. */
  function uploadCell(u) {
    if (!u || typeof u !== 'object') return h('td', { class: 'upload' }, h('span', { class: 'muted' }, '—'));
    return h('td', { class: 'upload' }, str(u.kind) + ' · ' + (isNum(u.files) ? u.files : '?') + ' files · ' +
      fmtBytes(u.bytes) + (isNum(u.uploads) && u.uploads > 1 ? ' · ' + u.uploads + ' uploads' : ''));
  }

  /* The participants' report (/v1/report): per participant and miner,
   * every offer with its task, verdict, losses, score, note and upload. */
  function renderReport(rep) {
    const parts = Array.isArray(rep.participants) ? rep.participants : [];
    if (!parts.length) return replace('report', empty('No participants registered.'));
    const frag = document.createDocumentFragment();
    for (const p of parts) {
      const miners = Array.isArray(p.miners) ? p.miners : [];
      const rows = [];
      for (const m of miners) {
        const subs = (Array.isArray(m.submissions) ? m.submissions : []).slice().sort((a, b) => a.task_id - b.task_id);
        for (const x of subs) {
          rows.push(h('tr', { 'data-miner': str(m.miner), 'data-task': x.task_id, 'data-verdict': str(x.verdict),
            class: x.verdict === 'invalid' ? 'invalid' : null },
          h('th', { scope: 'row', class: 'name' }, str(m.miner)),
          h('td', null, h('a', { href: '#task-' + Number(x.task_id) }, '#' + x.task_id), ' ', str(x.model)),
          h('td', { class: 'dataset' }, x.dataset === null || x.dataset === undefined
            ? h('span', { class: 'muted', title: 'the dataset is made public once the task is scored or failed' }, 'hidden')
            : str(x.dataset)),
          h('td', null, statusBadge(x.verdict)),
          h('td', { class: 'num test-loss' }, fmtLoss(x.test_loss)),
          h('td', { class: 'num synth-loss' }, fmtLoss(x.synth_loss)),
          weightedCell(x),
          h('td', { class: 'num score' }, fmtScore(x.score)),
          h('td', { class: 'flags-cell' }, flagItems({ status: x.verdict, reason: x.reason, flags: x.flags })),
          h('td', { class: 'strategy', title: str(x.strategy) }, x.strategy ? str(x.strategy) : h('span', { class: 'muted' }, '—')),
          uploadCell(x.upload)));
        }
      }
      frag.appendChild(h('article', { class: 'report-owner', 'data-owner': str(p.owner) },
        h('h3', null, str(p.owner), ' ', h('span', { class: 'muted' },
          miners.length + ' miner' + (miners.length === 1 ? '' : 's') + ': ' + miners.map((m) => str(m.miner)).join(', '))),
        rows.length
          ? table('Submissions of ' + str(p.owner),
            ['Miner', 'Task', 'Dataset', 'Verdict', { t: 'Test loss', cls: 'num' }, { t: 'Synth loss', cls: 'num' },
              { t: 'Weighted loss [interval]', cls: 'num' }, { t: 'Score', cls: 'num' }, 'Flags', 'Note', 'Upload'],
            rows, { class: 'subs report-table' })
          : empty('No offers yet.')));
    }
    replace('report', frag);
  }

  /* ---- refresh loop ------------------------------------------------------------------ */

  async function getJSON(path) {
    const r = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) throw new Error(path + ': ' + ((body && body.error) || 'HTTP ' + r.status));
    if (!body || typeof body !== 'object') throw new Error(path + ': not JSON');
    return body;
  }

  function setStatus(text, ok) {
    const el = document.getElementById('status');
    el.textContent = text;
    el.className = 'status ' + (ok ? 'status-ok' : 'status-err');
  }

  function needsDetail(t) {
    const c = detailCache.get(t.id);
    return !c || c.state !== t.state || !TERMINAL.has(t.state) || tick - c.tick >= DETAIL_REFETCH_TICKS;
  }

  async function refresh() {
    tick++;
    try {
      const t0 = Date.now();
      const [health, tasks, lb, flags, miners, report] = await Promise.all([
        getJSON('v1/health'), getJSON('v1/tasks'), getJSON('v1/leaderboard'), getJSON('v1/flags'), getJSON('v1/miners'),
        getJSON('v1/report'),
      ]);
      if (isNum(health.time_ms)) clockOffset = health.time_ms - (t0 + Date.now()) / 2;
      const list = (tasks.tasks || []).slice().sort((a, b) => b.id - a.id);
      const shown = list.slice(0, MAX_DETAIL);
      await Promise.all(shown.filter(needsDetail).map((t) =>
        getJSON('v1/tasks/' + encodeURIComponent(t.id))
          .then((d) => detailCache.set(t.id, { state: t.state, data: d, tick: tick }))
          .catch(() => {}))); /* one missing task must not blank the page */
      const details = shown.filter((t) => detailCache.has(t.id)).map((t) => ({ t: t, d: detailCache.get(t.id).data }));
      for (const id of [...detailCache.keys()]) if (!shown.some((t) => t.id === id)) detailCache.delete(id);

      if (changed('tasks', list)) renderTasks(list);
      if (changed('leaderboard', lb)) renderLeaderboard(lb);
      if (changed('details', details)) renderDetails(details);
      if (changed('flags', flags.flags || [])) renderFlags(flags.flags || []);
      if (changed('miners', miners.miners || [])) renderMiners(miners.miners || []);
      if (changed('report', report.participants || [])) renderReport(report);
      updateCountdowns();
      lastOk = Date.now();
      const skew = Math.round(clockOffset / 1000);
      setStatus('live · updated ' + fmtTime(lastOk) + ' · ' + list.length + ' task' + (list.length === 1 ? '' : 's') +
        (list.length > MAX_DETAIL ? ' (results for the newest ' + MAX_DETAIL + ')' : '') +
        (Math.abs(skew) >= 5 ? ' · validator clock ' + (skew > 0 ? '+' : '') + skew + ' s' : ''), true);
      document.body.setAttribute('data-ready', '1');
      document.body.setAttribute('data-updates', String(Number(document.body.getAttribute('data-updates') || 0) + 1));
    } catch (e) {
      setStatus('cannot reach the validator (' + (e && e.message ? e.message : e) + '); retrying every 2 s' +
        (lastOk ? ' — showing data from ' + fmtTime(lastOk) : ''), false);
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  setInterval(updateCountdowns, 1000);
  refresh();
})();
