// The desk: live station status (the scan button is disabled with the reason while it cannot
// check), a scan with live progress steps, typed identifiers (Ctrl+Enter), and the result card.
'use strict';
(function () {
  const scan = document.getElementById('scan');
  const reason = document.getElementById('scan-reason');
  const steps = document.getElementById('steps');
  const manual = document.getElementById('manual');
  const manualError = document.getElementById('manual-error');
  const manualSubmit = document.getElementById('manual-submit');
  let running = false;
  let blocked = 'Waiting for the station…';

  function pill(id, text, cls) { const p = document.getElementById(id); p.textContent = text; p.className = 'pill ' + cls; }

  function whyNot(s) {
    if (!s.connected) {
      return s.silent ? 'The lamp controller is not answering. Call the station engineer.'
                      : 'The lamp controller is not connected. Call the station engineer.';
    }
    if (s.lid_closed === false) return 'The lid is open. Close the lid to check.';
    if (s.item_present === false) return 'The tray is empty. Place an item on the tray.';
    if (s.busy && !running) return 'A check is running. Wait for its result.';
    return '';
  }

  function refresh() {
    scan.disabled = running || Boolean(blocked);
    if (running) return;
    reason.textContent = blocked || 'Ready: the lid is closed and an item is on the tray.';
    reason.className = blocked ? 'notice' : '';
  }

  function showStatus(s) {
    pill('link', s.connected ? 'controller: connected' : (s.silent ? 'controller: NOT ANSWERING' : 'controller: NOT CONNECTED'), s.connected ? 'ok' : 'bad');
    pill('lid', s.lid_closed === null ? 'lid: unknown' : (s.lid_closed ? 'lid: closed' : 'lid: OPEN'), s.lid_closed ? 'ok' : 'warn');
    pill('item', s.item_present === null ? 'item: unknown' : (s.item_present ? 'item: on tray' : 'item: tray empty'), s.item_present ? 'ok' : 'warn');
    blocked = whyNot(s);
    refresh();
  }

  const events = new EventSource('/api/station/events');
  events.addEventListener('status', (e) => showStatus(JSON.parse(e.data)));
  events.onerror = () => { blocked = 'The station is not answering. Wait a moment; if it stays, call the station engineer.'; refresh(); };

  function showStep(step) {
    const order = ['lamps', 'frames', 'reading', 'matching'];
    const at = order.indexOf(step);
    for (const li of steps.children) {
      const i = order.indexOf(li.dataset.step);
      li.className = i < at ? 'done' : (i === at ? 'now' : '');
      if (i === at) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
    }
    // the steps shown during this check, in order (read by people reviewing a slow check)
    const seen = (steps.dataset.seen || '').split(' ').filter(Boolean);
    if (at >= 0 && seen[seen.length - 1] !== step) steps.dataset.seen = seen.concat([step]).join(' ');
    if (at >= 0) reason.textContent = {lamps: 'Switching the lamps on…', frames: 'Taking pictures…',
                                       reading: 'Reading codes and markings…', matching: 'Checking the registers…'}[step];
  }

  function follow(url) {
    return new Promise((resolve) => {
      const es = new EventSource(url);
      let shown = 0;
      es.addEventListener('state', (e) => {
        const d = JSON.parse(e.data);
        // every step the server reports is shown in turn, even several in one refresh
        for (const step of (d.steps || []).slice(shown)) showStep(step);
        shown = Math.max(shown, (d.steps || []).length);
      });
      es.addEventListener('end', () => { es.close(); resolve(); });
      es.onerror = () => { es.close(); resolve(); };
    });
  }

  function setRunning(on) {
    running = on;
    manualSubmit.disabled = on;
    steps.hidden = !on;
    if (on) { reason.className = ''; steps.dataset.seen = ''; showStep('lamps'); }
    refresh();
  }

  async function fail(d, fallback) {
    const box = document.getElementById('result');
    const p = document.createElement('p');
    p.className = 'error'; p.id = 'check-error';
    p.textContent = (d && d.detail ? d.detail : fallback) + (d && d.fix ? ' — ' + d.fix : '');
    box.replaceChildren(p);
    box.scrollIntoView({block: 'start'}); box.focus({preventScroll: true});
  }

  scan.addEventListener('click', async () => {
    if (scan.disabled) return;
    setRunning(true);
    try {
      const r = await fetch('/api/checks', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({purpose: document.getElementById('purpose').value})});
      const d = await r.json().catch(() => ({}));
      if (!r.ok) { await fail(d, 'The check could not start.'); return; }
      await follow(d.events);
      await window.showCard(d.id, true);
    } catch (err) {
      await fail(null, 'The station did not answer: ' + err.message);
    } finally { setRunning(false); }
  });

  async function checkTyped() {
    const ids = manual.value.split(/\n/).map(s => s.trim()).filter(Boolean);
    manualError.hidden = true;
    manual.removeAttribute('aria-invalid');
    if (!ids.length) { manualError.textContent = 'Type a serial number, IMEI or marking-kit code first.'; manualError.hidden = false; return; }
    manualSubmit.disabled = true;
    try {
      const r = await fetch('/api/checks', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({purpose: document.getElementById('purpose').value, identifiers: ids})});
      const d = await r.json().catch(() => ({}));
      if (!r.ok) {
        const detail = typeof d.detail === 'string' ? d.detail : 'the identifiers could not be checked';
        manualError.textContent = 'Not checked: ' + detail + '.' + (d.fix ? ' ' + d.fix.charAt(0).toUpperCase() + d.fix.slice(1) + '.' : '');
        manualError.hidden = false;
        manual.setAttribute('aria-invalid', 'true');
        manual.focus();
        return;
      }
      manual.value = '';
      await window.showCard(d.id, true);
    } finally { manualSubmit.disabled = running; }
  }

  document.getElementById('manual-form').addEventListener('submit', (ev) => { ev.preventDefault(); checkTyped(); });
  manual.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); checkTyped(); }
  });
})();
