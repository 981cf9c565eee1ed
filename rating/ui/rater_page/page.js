// The rater workstation. Runs as the gr.HTML component's js_on_load: `element` is the component,
// `server` calls the Python functions named in rater_tab.py (the browser session travels in an
// HttpOnly cookie; this script never sees a token). META and CSS are prepended by rater_tab.py.
// Texts from the server (findings, candidates, comments) are only ever set as textContent or
// input values: plain text, never HTML. Nothing is written to localStorage or sessionStorage.
(function () {
  const $ = (id) => element.querySelector('#' + id);
  const CRIT = META.criteria;
  const st = { view: null, values: {}, order: [], cur: 0, dirty: false, busy: false, timer: null,
               saving: null, activeMs: 0, activeSince: null };

  if (!document.getElementById('rate-css')) {
    const style = document.createElement('style');
    style.id = 'rate-css';
    style.textContent = CSS;
    document.head.appendChild(style);
  }

  // the errors/pairwise part of the page (protocols.js), for studies with those protocols
  const PROTO = rwProtocolPart({ $, el, changed: () => changed(), submit: () => submit(),
                                 nextUnrated: () => nextUnrated(), say: (t) => { $('rate-missing').textContent = t; } });

  // ---- theme (kept in a plain cookie, not in browser storage) -------------------------------
  function setTheme(dark) {
    document.body.classList.toggle('dark', dark);
    $('rate-root').classList.toggle('dark', dark);
    $('rate-theme').textContent = dark ? 'Light theme' : 'Dark theme';
    $('rate-theme').setAttribute('aria-pressed', String(dark));
  }
  const saved = (document.cookie.match(/(?:^|; )rate_theme=(dark|light)/) || [])[1];
  setTheme(saved ? saved === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches);
  $('rate-theme').addEventListener('click', () => {
    const dark = !document.body.classList.contains('dark');
    setTheme(dark);
    document.cookie = 'rate_theme=' + (dark ? 'dark' : 'light') + '; path=' + location.pathname + '; max-age=31536000; SameSite=Lax';
  });

  // ---- active time: visible and focused ----------------------------------------------------
  function tick() {
    const now = performance.now();
    if (st.activeSince !== null) st.activeMs += now - st.activeSince;
    st.activeSince = (document.visibilityState === 'visible' && document.hasFocus()) ? now : null;
  }
  function takeActive() { tick(); const ms = Math.round(st.activeMs); st.activeMs = 0; return ms; }
  window.addEventListener('focus', tick);
  window.addEventListener('blur', tick);
  document.addEventListener('visibilitychange', () => {
    tick();
    if (document.visibilityState === 'hidden') saveDraft(true);
  });
  // report active time at least once a minute, so a crash or a closed laptop loses little of it
  setInterval(() => { tick(); if (st.activeMs >= 60000) saveDraft(true); }, 15000);
  window.addEventListener('beforeunload', (e) => {
    if (st.dirty || st.saving) { saveDraft(true); e.preventDefault(); e.returnValue = ''; }
  });

  // ---- messages ----------------------------------------------------------------------------
  function status(text, bad) {
    const el = $('rate-status');
    el.textContent = text || '';
    el.classList.toggle('bad', !!bad);
  }
  function showLogin(message) {
    st.view = null;
    $('rate-root').dataset.state = 'signed-out';
    $('rate-main').hidden = true;
    $('rate-signout-form').hidden = true;
    $('rate-who').textContent = '';
    $('rate-login').hidden = false;
    status(message || 'Please sign in with the access code from your invitation, or open your personal link.', !!message);
  }

  // ---- rendering ---------------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function initialValues(view) {
    const values = {};
    for (const c of view.candidates) {
      const d = (view.draft || {})[c.label];
      const src = d || c.scores || {};
      const v = {};
      for (const k of CRIT) v[k] = src[k] == null ? null : src[k];
      v.comment = d ? (d.comment || '') : (c.comment || '');
      v.significant_error = d ? !!d.significant_error : !!c.significant_error;
      values[c.label] = v;
    }
    return values;
  }
  function buildGrid(view) {
    const grid = $('rate-grid');
    const n = view.candidates.length;
    grid.style.setProperty('--n', n);
    grid.replaceChildren();
    const corner = el('div', 'rw-rowhead rw-cand-head', 'Criterion');
    grid.appendChild(corner);
    view.candidates.forEach((c, ci) => {
      const head = el('div', 'rw-cand-head');
      head.style.setProperty('--o', ci * 100);
      head.id = 'cand-' + c.label + '-head';
      head.appendChild(el('h3', '', 'Candidate ' + c.label));
      const text = el('p', 'rw-text', c.text);
      text.id = 'cand-' + c.label + '-text';
      head.appendChild(text);
      grid.appendChild(head);
    });
    st.order = [];
    CRIT.forEach((k, ki) => {
      const rh = el('div', 'rw-rowhead');
      rh.appendChild(el('b', '', META.titles[k]));
      rh.appendChild(el('span', 'rw-anchor', '1 = ' + META.anchors[k][0]));
      rh.appendChild(el('span', 'rw-anchor', '5 = ' + META.anchors[k][1]));
      grid.appendChild(rh);
      view.candidates.forEach((c, ci) => {
        const cell = el('div', 'rw-cell');
        cell.id = 'cell-' + c.label + '-' + k;
        cell.style.setProperty('--o', ci * 100 + ki + 1);
        cell.dataset.label = c.label; cell.dataset.crit = k;
        cell.dataset.c = ci; cell.dataset.k = ki;
        cell.tabIndex = -1;
        cell.setAttribute('role', 'radiogroup');
        cell.setAttribute('aria-label', 'Candidate ' + c.label + ', ' + META.titles[k] + ' (1 = ' +
                          META.anchors[k][0] + '; 5 = ' + META.anchors[k][1] + ')');
        cell.appendChild(el('span', 'rw-cell-title', META.titles[k]));
        const opts = el('span', 'rw-opts');
        for (let v = 1; v <= 5; v++) {
          const b = el('button', '', String(v));
          b.type = 'button'; b.tabIndex = -1; b.dataset.v = v;
          b.setAttribute('role', 'radio');
          b.setAttribute('aria-checked', 'false');
          opts.appendChild(b);
        }
        cell.appendChild(opts);
        cell.appendChild(el('span', 'rw-err', 'Score missing'));
        grid.appendChild(cell);
      });
    });
    const rh = el('div', 'rw-rowhead');
    rh.appendChild(el('b', '', 'Comment and flag'));
    rh.appendChild(el('span', 'rw-anchor', 'optional'));
    grid.appendChild(rh);
    view.candidates.forEach((c, ci) => {
      const box = el('div', 'rw-extra');
      box.style.setProperty('--o', ci * 100 + 50);
      const ta = el('textarea');
      ta.id = 'cand-' + c.label + '-comment'; ta.rows = 1; ta.maxLength = META.max_comment;
      ta.dataset.label = c.label;
      ta.setAttribute('aria-label', 'Comment on candidate ' + c.label + ' (optional)');
      ta.placeholder = 'Comment (optional)';
      box.appendChild(ta);
      const lab = el('label');
      const cb = el('input'); cb.type = 'checkbox'; cb.id = 'cand-' + c.label + '-error'; cb.dataset.label = c.label;
      lab.appendChild(cb);
      lab.appendChild(document.createTextNode('Clinically significant error'));
      box.appendChild(lab);
      grid.appendChild(box);
    });
    // keyboard order: down each candidate's column, then the next candidate
    view.candidates.forEach((c, ci) => CRIT.forEach((k, ki) => st.order.push($('cell-' + c.label + '-' + k))));
  }
  function paintValues() {
    for (const cell of st.order) {
      const v = st.values[cell.dataset.label][cell.dataset.crit];
      for (const b of cell.querySelectorAll('button')) b.setAttribute('aria-checked', String(Number(b.dataset.v) === v));
    }
    for (const c of st.view.candidates) {
      $('cand-' + c.label + '-comment').value = st.values[c.label].comment;
      $('cand-' + c.label + '-error').checked = st.values[c.label].significant_error;
    }
  }
  function render(view, message) {
    st.view = view;
    st.dirty = false;
    $('rate-root').dataset.state = view.finished ? 'finished' : 'case';
    $('rate-root').dataset.position = view.position;
    $('rate-login').hidden = true;
    $('rate-main').hidden = false;
    $('rate-signout-form').hidden = false;
    $('rate-who').textContent = 'Signed in as ' + view.rater_name;
    $('rate-progress').textContent = view.progress;
    const bar = $('rate-bar');
    bar.setAttribute('aria-valuemax', view.total);
    bar.setAttribute('aria-valuenow', view.n_completed);
    bar.firstElementChild.style.width = (view.total ? 100 * view.n_completed / view.total : 0) + '%';
    const unrated = view.unrated;
    $('rate-unrated-count').textContent = unrated.length ? unrated.length + ' not rated yet' : 'All cases rated';
    $('rate-next-unrated').disabled = !unrated.length;
    fillCaseButtons($('rate-unrated'), unrated);
    const instr = view.instructions_html || '';
    $('rate-instructions').hidden = !instr;
    if (instr !== st.instructions) { $('rate-instructions-body').innerHTML = instr; st.instructions = instr; }  // server-rendered Markdown, raw HTML escaped
    $('rate-missing').textContent = '';
    $('rate-saved').textContent = '';
    status(message !== undefined ? message : view.message, false);
    $('rate-finished').hidden = !view.finished;
    $('rate-case').hidden = view.finished;
    $('rate-submit').disabled = view.finished;
    $('rate-next').disabled = view.finished;
    $('rate-prev').disabled = view.position <= 0;
    if (view.finished) {
      $('rate-finished-text').textContent = view.message;
      fillCaseButtons($('rate-finished-unrated'), unrated);
      st.order = [];
      $('rate-protocol').hidden = true;
      window.scrollTo(0, 0);
      (unrated.length ? $('rate-finished-unrated').firstElementChild : $('rate-back')).focus();
      return;
    }
    $('rate-findings').textContent = view.findings;
    st.values = initialValues(view);
    const likert = (view.protocols || ['likert']).includes('likert');
    $('rate-grid').parentElement.hidden = !likert;
    $('rate-keys').hidden = !likert;
    if (likert) { buildGrid(view); paintValues(); } else { $('rate-grid').replaceChildren(); st.order = []; }
    PROTO.render(view);
    window.scrollTo(0, 0);
    const firstEmpty = st.order.findIndex((c) => st.values[c.dataset.label][c.dataset.crit] == null);
    if (likert && (firstEmpty >= 0 || !PROTO.active(view))) focusCell(firstEmpty < 0 ? 0 : firstEmpty);
    else if (!PROTO.focusFirst()) focusCell(0);
  }
  function fillCaseButtons(box, positions) {
    box.replaceChildren();
    for (const p of positions) {
      const b = el('button', '', 'Case ' + (p + 1));
      b.type = 'button'; b.dataset.pos = p;
      box.appendChild(b);
    }
  }

  // ---- grid interaction ----------------------------------------------------------------------
  function focusCell(i) {
    if (!st.order.length) return;
    i = Math.max(0, Math.min(st.order.length - 1, i));
    const prev = st.order[st.cur];
    if (prev) { prev.tabIndex = -1; prev.classList.remove('current'); }
    st.cur = i;
    const cell = st.order[i];
    cell.tabIndex = 0;
    cell.classList.add('current');
    cell.focus({ preventScroll: false });
  }
  function setScore(i, v) {
    const cell = st.order[i];
    st.values[cell.dataset.label][cell.dataset.crit] = v;
    for (const b of cell.querySelectorAll('button')) b.setAttribute('aria-checked', String(Number(b.dataset.v) === v));
    if (v != null) cell.classList.remove('missing');
    changed();
  }
  function changed() {
    st.dirty = true;
    $('rate-saved').textContent = 'Unsaved changes';
    clearTimeout(st.timer);
    st.timer = setTimeout(() => saveDraft(false), 700);
  }
  function nextEmptyAfter(i) {
    const n = st.order.length;
    for (let j = 1; j <= n; j++) {
      const c = st.order[(i + j) % n];
      if (st.values[c.dataset.label][c.dataset.crit] == null) return (i + j) % n;
    }
    return -1;
  }
  $('rate-grid').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-v]');
    const cell = e.target.closest('.rw-cell');
    if (!cell) return;
    const i = st.order.indexOf(cell);
    focusCell(i);
    if (b) setScore(i, Number(b.dataset.v));
  });
  $('rate-grid').addEventListener('input', (e) => {
    const t = e.target;
    if (t.matches('textarea')) st.values[t.dataset.label].comment = t.value;
    else if (t.matches('input[type=checkbox]')) st.values[t.dataset.label].significant_error = t.checked;
    else return;
    changed();
  });
  $('rate-grid').addEventListener('keydown', (e) => {
    const cell = e.target.closest('.rw-cell');
    if (!cell || e.ctrlKey || e.metaKey || e.altKey) return;
    const i = st.order.indexOf(cell);
    const n = st.view.candidates.length, K = CRIT.length;
    const c = Number(cell.dataset.c), k = Number(cell.dataset.k);
    if (/^[1-5]$/.test(e.key)) {
      e.preventDefault();
      setScore(i, Number(e.key));
      const nxt = nextEmptyAfter(i);
      if (nxt >= 0) focusCell(nxt);
    } else if (e.key === 'Backspace' || e.key === 'Delete' || e.key === '0') {
      e.preventDefault(); setScore(i, null);
    } else if (e.key === 'ArrowDown') { e.preventDefault(); focusCell(c * K + Math.min(K - 1, k + 1)); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); focusCell(c * K + Math.max(0, k - 1)); }
    else if (e.key === 'ArrowRight') { e.preventDefault(); focusCell(Math.min(n - 1, c + 1) * K + k); }
    else if (e.key === 'ArrowLeft') { e.preventDefault(); focusCell(Math.max(0, c - 1) * K + k); }
    else if (e.key === 'Enter') { e.preventDefault(); submit(); }
    else if (e.key === 'u' || e.key === 'U') { e.preventDefault(); nextUnrated(); }
  });
  document.addEventListener('keydown', (e) => {
    if (!st.view || st.view.finished) return;
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); }
    else if (e.altKey && e.key === 'ArrowRight') { e.preventDefault(); go(st.view.position + 1); }
    else if (e.altKey && e.key === 'ArrowLeft') { e.preventDefault(); go(st.view.position - 1); }
  });

  // ---- server calls --------------------------------------------------------------------------
  function refused(res) {
    if (res && res.signed_out) { showLogin(res.error); return true; }
    return false;
  }
  async function saveDraft(onlyTime) {
    if (!st.view || st.view.finished || st.busy) return;  // a submit or move in flight reports the time itself
    clearTimeout(st.timer);
    const sendDraft = st.dirty;
    if (!sendDraft && !onlyTime) return;
    const active = takeActive();
    if (!sendDraft && !active) return;
    st.dirty = false;
    const payload = { position: st.view.position, draft: sendDraft ? JSON.parse(JSON.stringify(st.values)) : null,
                      protocol: sendDraft ? PROTO.values() : null, active_ms: active };
    const p = server.rater_draft(payload);
    st.saving = p;
    try {
      const res = await p;
      if (refused(res)) return;
      if (!res.ok) { st.dirty = sendDraft || st.dirty; $('rate-saved').textContent = 'Draft not saved: ' + res.error; return; }
      if (sendDraft && !st.dirty) $('rate-saved').textContent = 'Draft saved ' + res.saved_at;
    } catch (err) {
      st.dirty = sendDraft || st.dirty;
      $('rate-saved').textContent = 'Draft not saved (connection problem); it will be retried.';
      st.timer = setTimeout(() => saveDraft(false), 3000);
    } finally {
      if (st.saving === p) st.saving = null;
    }
  }
  async function call(fn, payload) {
    if (st.busy) return null;
    st.busy = true;
    for (const id of ['rate-submit', 'rate-next', 'rate-prev', 'rate-next-unrated']) $(id).disabled = true;
    try {
      const res = await server[fn](payload);
      if (refused(res)) return null;
      if (!res.ok) {
        $('rate-missing').textContent = res.error;
        return null;
      }
      render(res.view, res.message);
      return res;
    } catch (err) {
      $('rate-missing').textContent = 'The server could not be reached. Your entries are still here; please try again.';
      return null;
    } finally {
      st.busy = false;
      if (st.view) {
        $('rate-submit').disabled = st.view.finished;
        $('rate-next').disabled = st.view.finished;
        $('rate-prev').disabled = st.view.position <= 0;
        $('rate-next-unrated').disabled = !st.view.unrated.length;
      }
    }
  }
  function missingCells() {
    return st.order.filter((c) => st.values[c.dataset.label][c.dataset.crit] == null);
  }
  async function submit() {
    if (!st.view || st.view.finished || st.busy) return;
    const missing = missingCells();
    for (const c of st.order) {
      const bad = missing.includes(c);
      c.classList.toggle('missing', bad);
      if (bad) c.setAttribute('aria-invalid', 'true'); else c.removeAttribute('aria-invalid');
    }
    const protoMissing = PROTO.missing();
    if (missing.length || protoMissing.length) {
      const names = missing.map((c) => 'Candidate ' + c.dataset.label + ': ' + META.titles[c.dataset.crit])
        .concat(protoMissing);
      $('rate-missing').textContent = 'Please give every ' + (missing.length ? 'score' : 'answer') +
        ' before submitting. Missing (' + names.length + '): ' +
        names.slice(0, 8).join('; ') + (names.length > 8 ? '; …' : '') + '. Your other entries are kept.';
      if (missing.length) focusCell(st.order.indexOf(missing[0])); else protoMissing.focus();
      return;
    }
    clearTimeout(st.timer);
    if (st.saving) { try { await st.saving; } catch (err) { /* the submit below carries every value */ } }
    const ratings = st.order.length ? st.view.candidates.map((c) => ({ label: c.label, ...st.values[c.label] })) : [];
    await call('rater_submit', { position: st.view.position, ratings, protocol: PROTO.values(),
                                 active_ms: takeActive() });
  }
  async function go(position) {
    if (!st.view || st.busy || position < 0 || position > st.view.total) return;
    const from = st.view.finished ? null : st.view.position;
    if (st.dirty) await saveDraft(false);   // leaving a case autosaves its draft
    await call('rater_open', { position, from, active_ms: from === null ? 0 : takeActive() });
  }
  function nextUnrated() {
    if (!st.view || !st.view.unrated.length) return;
    const after = st.view.unrated.find((p) => p > st.view.position);
    go(after !== undefined ? after : st.view.unrated[0]);
  }
  $('rate-submit').addEventListener('click', submit);
  $('rate-next').addEventListener('click', () => go(st.view.position + 1));
  $('rate-prev').addEventListener('click', () => go(st.view.position - 1));
  $('rate-next-unrated').addEventListener('click', nextUnrated);
  $('rate-back').addEventListener('click', () => go(Math.max(0, st.view.total - 1)));
  for (const id of ['rate-unrated', 'rate-finished-unrated']) {
    $(id).addEventListener('click', (e) => { const b = e.target.closest('button[data-pos]'); if (b) go(Number(b.dataset.pos)); });
  }

  // ---- start ---------------------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  const notice = META.notices[params.get('signin') || ''];
  if (params.has('signin') || params.has('token')) history.replaceState(null, '', location.pathname);
  server.rater_resume({}).then((res) => {
    if (res && res.ok) { render(res.view, notice && !notice.bad ? notice.text : undefined); tick(); return; }
    if (notice) showLogin(notice.text);
    else showLogin(res && res.had_session ? res.error : '');
    if (notice && !notice.bad) status(notice.text, false);
  }).catch(() => showLogin('The server could not be reached. Please reload the page.'));
})();
