// Engineer page: run the self-test and show each part's result.
'use strict';
(function () {
  const b = document.getElementById('doctor');
  if (!b) return;
  b.addEventListener('click', async () => {
    b.disabled = true;
    const t = document.getElementById('doctor-result');
    try {
      const r = await fetch('/api/doctor', {method: 'POST'});
      const d = await r.json().catch(() => ({}));
      t.replaceChildren();
      if (!r.ok) { const tr = document.createElement('tr'); const td = document.createElement('td'); td.textContent = d.detail || 'the self-test could not run'; tr.append(td); t.append(tr); return; }
      for (const part of d.checks || d.parts || []) {
        const tr = document.createElement('tr');
        for (const v of [part.passed ? 'PASS' : 'FAIL', part.name, part.detail || '']) { const td = document.createElement('td'); td.textContent = v; tr.append(td); }
        t.append(tr);
      }
      document.getElementById('self-test').textContent = d.passed ? 'passed' : 'failed';
    } finally { b.disabled = false; }
  });
})();
