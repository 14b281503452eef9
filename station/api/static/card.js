// The result card's actions: outcomes (with the warning for contradictory ones), owner contact
// (audited on the server), and reloading the card after a change. The card itself is rendered
// by the server (templates/_card.html); this file only fetches it and wires its buttons.
'use strict';
async function showCard(checkId, focus) {
  const box = document.getElementById('result');
  const r = await fetch('/checks/' + encodeURIComponent(checkId) + '/card', {headers: {Accept: 'text/html'}});
  if (!r.ok) throw new Error('the result could not be loaded (' + r.status + ')');
  const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
  box.replaceChildren(...doc.body.childNodes);
  if (focus) {
    box.scrollIntoView({block: 'start'});
    box.focus({preventScroll: true});
  }
}
window.showCard = showCard;

(function () {
  const box = document.getElementById('result');
  if (!box) return;
  let pending = null;

  async function record(kind, note, confirm) {
    const section = document.getElementById('outcome-box');
    const checkId = section.dataset.check;
    const warning = document.getElementById('outcome-warning');
    const r = await fetch('/api/checks/' + encodeURIComponent(checkId) + '/outcomes', {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({kind: kind, note: note, confirm: confirm})});
    const d = await r.json().catch(() => ({}));
    if (r.status === 409) {
      pending = {kind: kind, note: note};
      document.getElementById('outcome-warning-text').textContent = 'Warning: ' + d.detail + '.';
      warning.hidden = false;
      document.getElementById('outcome-confirm').focus();
      return;
    }
    if (!r.ok) {
      pending = null;
      document.getElementById('outcome-warning-text').textContent = d.detail || 'The outcome was not recorded.';
      warning.hidden = false;
      return;
    }
    await showCard(checkId, false);
    const list = document.getElementById('outcomes');
    if (list) { list.tabIndex = -1; list.focus(); }
  }

  async function showOwner(button) {
    const out = document.getElementById('owner-contact');
    const r = await fetch('/api/checks/' + encodeURIComponent(button.dataset.check) + '/owners');
    const d = await r.json().catch(() => []);
    out.replaceChildren();
    if (!r.ok) { out.textContent = d.detail || 'The owner details could not be opened.'; out.hidden = false; return; }
    if (!d.length) { out.textContent = 'The register holds no contact details for this owner: ask the reporting force.'; }
    for (const o of d) {
      const dl = document.createElement('dl');
      dl.className = 'owner-contact';
      for (const [label, value] of [['Name', o.name], ['Phone', o.phone], ['Email', o.email],
                                    ['Address', [o.address, o.postcode].filter(Boolean).join(', ')],
                                    ['Owner reference', o.owner_ref], ['Registered items', (o.entries || []).join(', ')]]) {
        if (!value) continue;
        const dt = document.createElement('dt'); dt.textContent = label;
        const dd = document.createElement('dd'); dd.textContent = value;
        dl.append(dt, dd);
      }
      out.append(dl);
    }
    out.hidden = false;
    button.hidden = true;
  }

  box.addEventListener('click', (ev) => {
    const t = ev.target.closest('button');
    if (!t) return;
    if (t.classList.contains('outcome')) record(t.dataset.kind, '', false);
    else if (t.id === 'outcome-submit') record(document.getElementById('outcome-kind').value, document.getElementById('outcome-note').value, false);
    else if (t.id === 'outcome-confirm' && pending) record(pending.kind, pending.note, true);
    else if (t.id === 'outcome-cancel') { pending = null; document.getElementById('outcome-warning').hidden = true; }
    else if (t.id === 'owner-show') showOwner(t);
  });
})();
