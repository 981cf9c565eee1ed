// The errors and pairwise parts of the rater workstation (rating/protocols). page.js calls
// rwProtocolPart(api) once and then: render(view), values(), missing(), focusFirst(). Texts from the
// server are set as textContent only (highlights are <mark> elements around text nodes). Keyboard
// first, the same rules as the score grid: the focused cell takes digit keys and moves on to the
// next empty cell; Enter submits; every control is a button whose whole box takes its click.
// META.protocol (from rater_tab.py) carries the categories, attributes and harm scales.
function rwProtocolPart(api) {
  const P = META.protocol;
  const el = api.el;
  const root = api.$('rate-protocol');
  const ps = { view: null, errors: {}, pairs: {}, order: [], cur: -1 };

  const CELLS = [];
  for (const c of P.categories) for (const s of ['s', 'i']) CELLS.push(c + '.' + s);
  const cellId = (label, cell) => 'err-' + label + '-' + cell.replace('.', '-');
  const has = (view, name) => (view.protocols || []).includes(name);

  function initial(view) {
    const draft = ((view.draft || {}).protocol) || {};
    const saved = view.protocol || {};
    ps.errors = {}; ps.pairs = {};
    if (has(view, 'errors')) {
      for (const c of view.candidates) {
        const src = (draft.errors || {})[c.label] || (saved.errors || {})[c.label] || {};
        const counts = {};
        for (const cell of CELLS) counts[cell] = (src.counts || {})[cell] == null ? null : src.counts[cell];
        const spans = {};
        for (const [cell, list] of Object.entries(src.spans || {})) spans[cell] = list.map((s) => [s[0], s[1]]);
        ps.errors[c.label] = { counts, spans };
      }
    }
    if (has(view, 'pairwise')) {
      for (const p of saved.pairs || []) {
        const src = (draft.pairs || {})[p.key] || p.values || {};
        const v = {};
        for (const f of P.pair_fields) v[f] = src[f] == null ? null : src[f];
        v.left_error = !!v.left_error; v.right_error = !!v.right_error;
        ps.pairs[p.key] = v;
      }
    }
  }

  // ---- errors ------------------------------------------------------------------------------------
  function paintText(label) {
    const box = api.$('err-' + label + '-text');
    const text = ps.view.candidates.find((c) => c.label === label).text;
    const marks = [];
    for (const [cell, list] of Object.entries(ps.errors[label].spans)) for (const s of list) marks.push([s[0], s[1], cell]);
    marks.sort((a, b) => a[0] - b[0]);
    box.replaceChildren();
    let at = 0;
    for (const [start, end, cell] of marks) {
      if (start < at) continue;  // overlapping highlights: the first one is drawn
      if (start > at) box.appendChild(document.createTextNode(text.slice(at, start)));
      const m = el('mark', cell.endsWith('.s') ? 'rp-sig' : '', text.slice(start, end));
      m.title = P.titles[cell.split('.')[0]] + (cell.endsWith('.s') ? ', clinically significant' : ', not significant');
      box.appendChild(m);
      at = end;
    }
    if (at < text.length) box.appendChild(document.createTextNode(text.slice(at)));
  }
  function buildErrors(view) {
    const wrap = el('div', 'rp-errors');
    wrap.appendChild(el('h2', 'rp-h', 'Errors per candidate'));
    for (const c of view.candidates) {
      const sec = el('section', 'rp-cand');
      sec.id = 'err-' + c.label;
      const head = el('div', 'rp-cand-head');
      head.appendChild(el('h3', '', 'Candidate ' + c.label));
      const none = el('button', 'rp-none', 'No (other) errors (N)');
      none.type = 'button'; none.id = 'err-' + c.label + '-none'; none.dataset.label = c.label;
      head.appendChild(none);
      sec.appendChild(head);
      const text = el('p', 'rw-text rp-text');
      text.id = 'err-' + c.label + '-text'; text.dataset.label = c.label;
      sec.appendChild(text);
      const table = el('div', 'rp-err-table');
      table.setAttribute('role', 'group');
      table.setAttribute('aria-label', 'Error counts of candidate ' + c.label);
      table.appendChild(el('div', 'rp-colhead', 'Category'));
      table.appendChild(el('div', 'rp-colhead', 'Clinically significant'));
      table.appendChild(el('div', 'rp-colhead', 'Not significant'));
      for (const cat of P.categories) {
        table.appendChild(el('div', 'rp-rowhead', P.titles[cat]));
        for (const sig of ['s', 'i']) {
          const cell = cat + '.' + sig;
          const box = el('div', 'rp-cell rp-count-cell');
          box.id = cellId(c.label, cell);
          box.tabIndex = -1;
          box.dataset.kind = 'count'; box.dataset.label = c.label; box.dataset.cell = cell;
          box.setAttribute('role', 'spinbutton');
          box.setAttribute('aria-label', 'Candidate ' + c.label + ', ' + P.titles[cat] + ', ' +
                           (sig === 's' ? 'clinically significant' : 'not significant'));
          box.appendChild(el('span', 'rp-cell-title', P.titles[cat] + (sig === 's' ? ' (significant)' : ' (not significant)')));
          const row = el('span', 'rp-stepper');
          const minus = el('button', 'rp-step', '−'); minus.type = 'button'; minus.tabIndex = -1; minus.dataset.step = -1;
          minus.setAttribute('aria-label', 'One fewer');
          const value = el('button', 'rp-value', '–'); value.type = 'button'; value.tabIndex = -1; value.dataset.zero = '1';
          value.setAttribute('aria-label', 'Set to 0');
          const plus = el('button', 'rp-step', '+'); plus.type = 'button'; plus.tabIndex = -1; plus.dataset.step = 1;
          plus.setAttribute('aria-label', 'One more');
          const mark = el('button', 'rp-mark', 'Mark'); mark.type = 'button'; mark.tabIndex = -1; mark.dataset.mark = '1';
          mark.setAttribute('aria-label', 'Highlight the selected text as this error (H)');
          row.append(minus, value, plus, mark);
          box.appendChild(row);
          box.appendChild(el('span', 'rw-err', 'Count missing'));
          table.appendChild(box);
          ps.order.push(box);
        }
      }
      sec.appendChild(table);
      wrap.appendChild(sec);
    }
    wrap.appendChild(el('p', 'rw-keys', 'Keys in a count cell: 0–9 set the count and move on · S switches between ' +
      'significant and not significant · N: no (other) errors in this candidate (every empty cell 0) · + / − ' +
      'change the count · H highlights the text you selected in the candidate as this error · arrows move · ' +
      'Backspace clears · Enter submits.'));
    return wrap;
  }
  function paintCount(box) {
    const v = ps.errors[box.dataset.label].counts[box.dataset.cell];
    const n = (ps.errors[box.dataset.label].spans[box.dataset.cell] || []).length;
    box.querySelector('.rp-value').textContent = v == null ? '–' : String(v);
    box.setAttribute('aria-valuenow', v == null ? '' : String(v));
    box.querySelector('.rp-mark').textContent = n ? 'Marked ' + n : 'Mark';
    box.classList.toggle('rp-has', !!v);
    if (v != null) { box.classList.remove('missing'); box.removeAttribute('aria-invalid'); }
  }
  function setCount(box, v) {
    const e = ps.errors[box.dataset.label];
    if (v != null) v = Math.max(0, Math.min(P.max_count, v));
    e.counts[box.dataset.cell] = v;
    const spans = e.spans[box.dataset.cell] || [];
    if (spans.length > (v || 0)) {  // fewer errors than highlights: drop the latest highlights
      if (v) e.spans[box.dataset.cell] = spans.slice(0, v); else delete e.spans[box.dataset.cell];
      paintText(box.dataset.label);
    }
    paintCount(box);
    api.changed();
  }
  function noErrors(label) {
    for (const box of ps.order) {
      if (box.dataset.kind === 'count' && box.dataset.label === label && ps.errors[label].counts[box.dataset.cell] == null) {
        setCount(box, 0);
      }
    }
  }
  function selectionOffsets(label) {
    const sel = window.getSelection();
    const box = api.$('err-' + label + '-text');
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return null;
    const pre = document.createRange();
    pre.selectNodeContents(box);
    pre.setEnd(range.startContainer, range.startOffset);
    const start = pre.toString().length;
    const end = start + range.toString().length;
    return end > start ? [start, end] : null;
  }
  function markSelection(box) {
    const label = box.dataset.label;
    const span = selectionOffsets(label);
    if (!span) { api.say('Select words in candidate ' + label + "'s text first, then press H (or Mark)."); return; }
    const e = ps.errors[label];
    const list = e.spans[box.dataset.cell] || [];
    list.push(span);
    e.spans[box.dataset.cell] = list;
    if ((e.counts[box.dataset.cell] || 0) < list.length) e.counts[box.dataset.cell] = list.length;
    window.getSelection().removeAllRanges();
    paintText(label);
    paintCount(box);
    api.changed();
  }

  // ---- pairwise ----------------------------------------------------------------------------------
  function choiceCell(id, key, field, options, aria) {
    const box = el('div', 'rp-cell rp-choice');
    box.id = id; box.tabIndex = -1;
    box.dataset.kind = 'choice'; box.dataset.pair = key; box.dataset.field = field;
    box.setAttribute('role', 'radiogroup');
    box.setAttribute('aria-label', aria);
    const row = el('span', 'rp-opts');
    options.forEach(([value, text], i) => {
      const b = el('button', '', (i + 1) + ' ' + text);
      b.type = 'button'; b.tabIndex = -1; b.dataset.v = JSON.stringify(value);
      b.setAttribute('role', 'radio'); b.setAttribute('aria-checked', 'false');
      row.appendChild(b);
    });
    box.appendChild(row);
    box.appendChild(el('span', 'rw-err', 'Answer missing'));
    return box;
  }
  function buildPairs(view) {
    const wrap = el('div', 'rp-pairs');
    const texts = Object.fromEntries(view.candidates.map((c) => [c.label, c.text]));
    const pairs = (view.protocol || {}).pairs || [];
    wrap.appendChild(el('h2', 'rp-h', pairs.length > 1 ? 'Compare each pair (' + pairs.length + ' pairs)' : 'Compare the two impressions'));
    for (const p of pairs) {
      const sec = el('section', 'rp-pair');
      sec.id = 'pair-' + p.key;
      const sides = el('div', 'rp-sides');
      for (const side of ['left', 'right']) {
        const label = p[side];
        const s = el('div', 'rp-side');
        s.appendChild(el('h3', '', (side === 'left' ? 'Left: ' : 'Right: ') + 'candidate ' + label));
        const t = el('p', 'rw-text', texts[label]);
        t.id = 'pair-' + p.key + '-' + side + '-text';
        s.appendChild(t);
        const flag = el('button', 'rp-flag', side === 'left' ? 'Left text has an error (L)' : 'Right text has an error (R)');
        flag.type = 'button'; flag.id = 'pair-' + p.key + '-' + side + '-error';
        flag.dataset.pair = p.key; flag.dataset.side = side;
        flag.setAttribute('aria-pressed', 'false');
        s.appendChild(flag);
        sides.appendChild(s);
      }
      sec.appendChild(sides);
      const prefs = el('div', 'rp-prefs');
      for (const a of P.attributes) {
        const row = el('div', 'rp-pref-row');
        row.appendChild(el('b', 'rp-attr', P.attribute_titles[a]));
        const opts = [-2, -1, 0, 1, 2].map((v) => [v, P.preference_labels[String(v)]]);
        const box = choiceCell('pair-' + p.key + '-' + a, p.key, a, opts,
                               P.attribute_titles[a] + ': which text is better (1 = left much better, 5 = right much better)');
        row.appendChild(box);
        prefs.appendChild(row);
        ps.order.push(box);
      }
      sec.appendChild(prefs);
      for (const side of ['left', 'right']) {
        const harm = el('div', 'rp-harm');
        harm.id = 'pair-' + p.key + '-' + side + '-harm';
        harm.appendChild(el('b', 'rp-attr', 'Possible harm from the error in the ' + side + ' text (AHRQ)'));
        const ext = choiceCell('pair-' + p.key + '-' + side + '-extent', p.key, side + '_harm_extent',
                               P.harm_extents.map((v) => [v, P.harm_titles[v]]), 'Extent of possible harm, ' + side + ' text');
        const lik = choiceCell('pair-' + p.key + '-' + side + '-likelihood', p.key, side + '_harm_likelihood',
                               P.harm_likelihoods.map((v) => [v, P.harm_titles[v]]), 'Likelihood of harm, ' + side + ' text');
        const r1 = el('div', 'rp-pref-row'); r1.append(el('span', 'rp-attr', 'Extent'), ext);
        const r2 = el('div', 'rp-pref-row'); r2.append(el('span', 'rp-attr', 'Likelihood'), lik);
        harm.append(r1, r2);
        sec.appendChild(harm);
        ps.order.push(ext, lik);
      }
      wrap.appendChild(sec);
    }
    wrap.appendChild(el('p', 'rw-keys', 'Keys: 1–5 answer the focused row (1 = left much better, 3 = equal, 5 = right ' +
      'much better) and move on · L / R: the left / right text has an error (opens its harm questions: 1–3 for ' +
      'extent and likelihood) · arrows move · Backspace clears · Enter submits.'));
    return wrap;
  }
  function pairValue(box) { return ps.pairs[box.dataset.pair][box.dataset.field]; }
  function paintChoice(box) {
    const v = pairValue(box);
    for (const b of box.querySelectorAll('button')) b.setAttribute('aria-checked', String(JSON.parse(b.dataset.v) === v));
    if (v != null) { box.classList.remove('missing'); box.removeAttribute('aria-invalid'); }
  }
  function paintPair(key) {
    const v = ps.pairs[key];
    for (const side of ['left', 'right']) {
      const on = !!v[side + '_error'];
      const flag = api.$('pair-' + key + '-' + side + '-error');
      flag.setAttribute('aria-pressed', String(on));
      flag.classList.toggle('on', on);
      api.$('pair-' + key + '-' + side + '-harm').hidden = !on;
    }
    for (const box of ps.order) if (box.dataset.pair === key) paintChoice(box);
  }
  function setChoice(box, v) {
    ps.pairs[box.dataset.pair][box.dataset.field] = v;
    paintChoice(box);
    api.changed();
  }
  function toggleError(key, side) {
    const v = ps.pairs[key];
    v[side + '_error'] = !v[side + '_error'];
    if (!v[side + '_error']) { v[side + '_harm_extent'] = null; v[side + '_harm_likelihood'] = null; }
    paintPair(key);
    api.changed();
    if (v[side + '_error']) focus(ps.order.indexOf(api.$('pair-' + key + '-' + side + '-extent')));
  }

  // ---- focus and keys ----------------------------------------------------------------------------
  const visible = (box) => !box.closest('[hidden]');
  function isEmpty(box) {
    if (!visible(box)) return false;
    return box.dataset.kind === 'count' ? ps.errors[box.dataset.label].counts[box.dataset.cell] == null : pairValue(box) == null;
  }
  function focus(i) {
    if (!ps.order.length) return;
    i = Math.max(0, Math.min(ps.order.length - 1, i));
    const prev = ps.order[ps.cur];
    if (prev) { prev.tabIndex = -1; prev.classList.remove('current'); }
    ps.cur = i;
    const box = ps.order[i];
    box.tabIndex = 0;
    box.classList.add('current');
    box.focus({ preventScroll: false });
  }
  function step(i, delta) {  // the next visible cell in `delta` direction
    for (let j = i + delta; j >= 0 && j < ps.order.length; j += delta) if (visible(ps.order[j])) return j;
    return i;
  }
  function nextEmptyAfter(i) {
    const n = ps.order.length;
    for (let j = 1; j <= n; j++) if (isEmpty(ps.order[(i + j) % n])) return (i + j) % n;
    return -1;
  }
  function advance(i) { const nxt = nextEmptyAfter(i); if (nxt >= 0) focus(nxt); }
  root.addEventListener('click', (e) => {
    const none = e.target.closest('.rp-none');
    if (none) { noErrors(none.dataset.label); advanceFromLabel(none.dataset.label); return; }
    const flag = e.target.closest('.rp-flag');
    if (flag) { toggleError(flag.dataset.pair, flag.dataset.side); return; }
    const box = e.target.closest('.rp-cell');
    if (!box) return;
    const i = ps.order.indexOf(box);
    focus(i);
    const b = e.target.closest('button');
    if (!b) return;
    if (box.dataset.kind === 'count') {
      const cur = ps.errors[box.dataset.label].counts[box.dataset.cell] || 0;
      if (b.dataset.mark) markSelection(box);
      else if (b.dataset.zero) setCount(box, ps.errors[box.dataset.label].counts[box.dataset.cell] == null ? 0 : cur);
      else setCount(box, cur + Number(b.dataset.step));
    } else if (b.dataset.v !== undefined) {
      setChoice(box, JSON.parse(b.dataset.v));
    }
  });
  // Mark needs the text selection: keep it when the button is pressed (no focus move on mousedown)
  root.addEventListener('mousedown', (e) => { if (e.target.closest('.rp-mark')) e.preventDefault(); });
  function advanceFromLabel(label) {
    const last = ps.order.map((b) => b.dataset.label).lastIndexOf(label);
    advance(last);
  }
  root.addEventListener('keydown', (e) => {
    const box = e.target.closest('.rp-cell');
    if (!box || e.ctrlKey || e.metaKey || e.altKey) return;
    const i = ps.order.indexOf(box);
    const k = e.key;
    if (box.dataset.kind === 'count') {
      const counts = ps.errors[box.dataset.label].counts;
      if (/^[0-9]$/.test(k)) { e.preventDefault(); setCount(box, Number(k)); advance(i); }
      else if (k === '+' || k === '=') { e.preventDefault(); setCount(box, (counts[box.dataset.cell] || 0) + 1); }
      else if (k === '-') { e.preventDefault(); setCount(box, Math.max(0, (counts[box.dataset.cell] || 0) - 1)); }
      else if (k === 's' || k === 'S') {
        e.preventDefault();
        const other = box.dataset.cell.endsWith('.s') ? box.dataset.cell.replace('.s', '.i') : box.dataset.cell.replace('.i', '.s');
        focus(ps.order.indexOf(api.$(cellId(box.dataset.label, other))));
      } else if (k === 'n' || k === 'N') { e.preventDefault(); noErrors(box.dataset.label); advanceFromLabel(box.dataset.label); }
      else if (k === 'h' || k === 'H') { e.preventDefault(); markSelection(box); }
      else if (k === 'Backspace' || k === 'Delete') {
        e.preventDefault();
        delete ps.errors[box.dataset.label].spans[box.dataset.cell];
        paintText(box.dataset.label);
        setCount(box, null);
      } else if (k === 'ArrowRight') { e.preventDefault(); focus(step(i, 1)); }
      else if (k === 'ArrowLeft') { e.preventDefault(); focus(step(i, -1)); }
      else if (k === 'ArrowDown') { e.preventDefault(); focus(step(step(i, 1), 1)); }
      else if (k === 'ArrowUp') { e.preventDefault(); focus(step(step(i, -1), -1)); }
      else if (k === 'Enter') { e.preventDefault(); api.submit(); }
      else if (k === 'u' || k === 'U') { e.preventDefault(); api.nextUnrated(); }
      return;
    }
    const n = box.querySelectorAll('button').length;
    if (/^[1-9]$/.test(k) && Number(k) <= n) {
      e.preventDefault();
      setChoice(box, JSON.parse(box.querySelectorAll('button')[Number(k) - 1].dataset.v));
      advance(i);
    } else if (k === 'l' || k === 'L') { e.preventDefault(); toggleError(box.dataset.pair, 'left'); }
    else if (k === 'r' || k === 'R') { e.preventDefault(); toggleError(box.dataset.pair, 'right'); }
    else if (k === 'Backspace' || k === 'Delete') { e.preventDefault(); setChoice(box, null); }
    else if (k === 'ArrowDown' || k === 'ArrowRight') { e.preventDefault(); focus(step(i, 1)); }
    else if (k === 'ArrowUp' || k === 'ArrowLeft') { e.preventDefault(); focus(step(i, -1)); }
    else if (k === 'Enter') { e.preventDefault(); api.submit(); }
    else if (k === 'u' || k === 'U') { e.preventDefault(); api.nextUnrated(); }
  });

  // ---- what page.js calls ------------------------------------------------------------------------
  return {
    active(view) { return has(view, 'errors') || has(view, 'pairwise'); },
    render(view) {
      ps.view = view; ps.order = []; ps.cur = -1;
      root.replaceChildren();
      root.hidden = view.finished || !this.active(view);
      if (root.hidden) return;
      initial(view);
      if (has(view, 'errors')) {
        root.appendChild(buildErrors(view));
        for (const c of view.candidates) paintText(c.label);
        for (const box of ps.order) paintCount(box);
      }
      if (has(view, 'pairwise')) {
        root.appendChild(buildPairs(view));
        for (const key of Object.keys(ps.pairs)) paintPair(key);
      }
    },
    focusFirst() {
      if (!ps.order.length) return false;
      const i = ps.order.findIndex(isEmpty);
      focus(i < 0 ? 0 : i);
      return true;
    },
    values() {
      if (!ps.view || !this.active(ps.view)) return null;
      const out = {};
      if (has(ps.view, 'errors')) out.errors = JSON.parse(JSON.stringify(ps.errors));
      if (has(ps.view, 'pairwise')) out.pairs = JSON.parse(JSON.stringify(ps.pairs));
      return out;
    },
    missing() {  // mark every empty cell; returns their names
      const names = [];
      for (const box of ps.order) {
        const bad = isEmpty(box);
        box.classList.toggle('missing', bad);
        if (bad) box.setAttribute('aria-invalid', 'true'); else box.removeAttribute('aria-invalid');
        if (bad) names.push(box.getAttribute('aria-label'));
      }
      const first = ps.order.find(isEmpty);
      if (first) names.focus = () => focus(ps.order.indexOf(first));
      return names;
    },
  };
}
