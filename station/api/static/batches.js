// Bulk checks: upload, then progress with percentage and time remaining; every message names
// the file the user chose (never a server-side temporary name).
'use strict';
(function () {
  const form = document.getElementById('batch-form');
  if (!form) return;
  function remaining(seconds) {
    if (!isFinite(seconds) || seconds < 0) return 'working out the time left';
    if (seconds < 60) return 'about ' + Math.max(1, Math.round(seconds)) + ' s left';
    return 'about ' + Math.round(seconds / 60) + ' min left';
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const file = document.getElementById('batch-file').files[0];
    const err = document.getElementById('batch-error');
    err.hidden = true;
    if (!file) return;
    const submit = document.getElementById('batch-submit');
    submit.disabled = true;
    let r, d;
    try {
      r = await fetch('/api/batches?filename=' + encodeURIComponent(file.name), {method: 'POST', body: file,
        headers: {'Content-Type': 'application/octet-stream'}});
      d = await r.json().catch(() => ({}));
    } finally { submit.disabled = false; }
    if (!r.ok) {
      let detail = typeof d.detail === 'string' ? d.detail : 'the file was refused';
      if (!detail.includes(file.name)) detail = file.name + ': ' + detail;
      err.replaceChildren(document.createTextNode(detail));
      const ul = document.createElement('ul');
      for (const p of d.problems || []) { const li = document.createElement('li'); li.textContent = `${file.name} line ${p.line}: ${p.reason}`; ul.append(li); }
      err.append(ul); err.hidden = false; return;
    }
    document.getElementById('batch-progress').hidden = false;
    const bar = document.getElementById('batch-bar'), text = document.getElementById('batch-text');
    let firstDone = null;
    const es = new EventSource(d.events);
    es.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      const total = p.total || 0;
      bar.max = total || 1; bar.value = p.done;
      const pct = total ? Math.floor(100 * p.done / total) : 100;
      let line = `${file.name}: ${p.done} of ${total} checked (${pct}%) — ${p.hits} hit(s)`;
      if (p.state === 'complete') line += ' — finished';
      else if (p.state === 'failed') line += ' — stopped: ' + (p.error || 'failed');
      else {
        if (firstDone === null && p.done > 0) firstDone = {at: performance.now(), done: p.done};
        let eta = NaN;
        if (firstDone && p.done > firstDone.done) {
          const rate = (p.done - firstDone.done) / ((performance.now() - firstDone.at) / 1000);
          eta = (total - p.done) / rate;
        }
        line += ' — ' + remaining(eta);
      }
      text.textContent = line;
      text.dataset.state = p.state;
      text.dataset.percent = String(pct);
      if (p.state === 'complete') {
        document.getElementById('report-html').href = `/api/batches/${p.id}/report.html`;
        document.getElementById('report-csv').href = `/api/batches/${p.id}/report.csv`;
        document.getElementById('batch-links').hidden = false;
      }
    });
    es.addEventListener('end', () => es.close());
  });
})();
