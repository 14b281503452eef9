// Dealer page: do not buy, or no record; a number that cannot be one is refused with the reason.
'use strict';
(function () {
  const input = document.getElementById('dealer-identifier');
  const err = document.getElementById('dealer-error');
  document.getElementById('dealer-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const box = document.getElementById('dealer-answer');
    err.hidden = true; input.removeAttribute('aria-invalid');
    box.replaceChildren();
    const r = await fetch('/api/dealer/check', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({identifier: input.value})});
    const d = await r.json().catch(() => ({}));
    if (!r.ok) {
      err.textContent = 'Not checked: ' + (typeof d.detail === 'string' ? d.detail : 'type the number as printed on the item') + '.';
      err.hidden = false; input.setAttribute('aria-invalid', 'true'); input.focus();
      return;
    }
    const v = document.createElement('div');
    v.className = 'verdict ' + (d.do_not_buy ? 'r-stolen' : 'r-no_match');
    v.id = 'dealer-advice';
    v.textContent = d.do_not_buy ? 'DO NOT BUY — contact police' : 'No record found';
    const p = document.createElement('p');
    p.textContent = d.advice + ' Reference: ' + d.reference;
    p.id = 'dealer-reference';
    box.append(v, p);
  });
})();
