// Renders a check document (DESIGN 3.2) into the result card; text only, never innerHTML.
const VERDICT_TEXT = {match: 'MATCH ON REGISTER', possible_match: 'POSSIBLE MATCH — verify by eye',
                      no_match: 'No register match'};
const CLASS_TEXT = {forensic_liquid: 'Forensic marking present: swab and submit',
                    uv_pen: 'UV pen marking found: read the postcode', unknown: 'Possible marking: look under UV',
                    brightener: 'Optical brightener (probably not a marking)'};
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (v !== null && v !== undefined) e.setAttribute(k, v); }
  for (const k of kids) { e.append(k === null || k === undefined ? '' : k); }
  return e;
}
function renderCheck(box, doc) {
  box.replaceChildren();
  if (!doc) { box.append(el('p', {id: 'empty'}, 'No check yet. Place an item, close the lid and press the button.')); return; }
  const finished = doc.state === 'complete';
  const vkey = finished ? (doc.verdict || 'no_match') : doc.state;
  const vtext = finished ? VERDICT_TEXT[vkey] : (doc.state === 'started' ? 'Checking…' : 'Check incomplete');
  box.append(el('div', {class: 'verdict v-' + vkey, id: 'verdict', 'data-verdict': vkey}, vtext));
  if (doc.error) box.append(el('p', {class: 'error', id: 'check-error'}, doc.error));
  const strong = (doc.marks || []).filter(m => m.class !== 'brightener');
  if (strong.length) {
    const best = strong.reduce((a, b) => (a.score >= b.score ? a : b));
    box.append(el('div', {class: 'marking', id: 'marking', 'data-class': best.class},
      CLASS_TEXT[best.class] || best.class, ` (${best.class}, score ${best.score.toFixed(2)})`));
  } else if (finished) {
    box.append(el('p', {id: 'marking-none'}, (doc.marks || []).length ? 'Only optical brighteners seen.' : 'No fluorescent marking seen.'));
  }
  const t = el('table', {id: 'identifiers'}, el('tr', {}, el('th', {}, 'kind'), el('th', {}, 'value'), el('th', {}, 'read by'), el('th', {}, 'verdict')));
  const byQuery = {};
  for (const m of doc.matches || []) byQuery[m.normalised || m.query] = m;
  for (const i of doc.identifiers || []) {
    const m = byQuery[i.value] || (doc.matches || []).find(x => x.query === i.value || x.query === i.raw);
    t.append(el('tr', {class: 'identifier'}, el('td', {}, i.kind), el('td', {}, el('code', {}, i.value), i.valid ? '' : ' (check digit fails)'),
      el('td', {}, i.source), el('td', {class: 'v-cell'}, m ? m.verdict.replace('_', ' ') : '')));
  }
  if ((doc.identifiers || []).length) box.append(t);
  else if (finished) box.append(el('p', {id: 'no-identifiers'}, 'No codes or serials read.'));
  for (const m of doc.matches || []) {
    for (const c of m.candidates || []) {
      const edits = (c.edits || []).length ? ' — assuming ' + c.edits.join(', ') : '';
      const e = c.entry || {};
      const item = [e.category, e.brand, e.model].filter(Boolean).join(' ');
      box.append(el('p', {class: 'candidate'}, el('b', {}, c.status.toUpperCase()), ' ', el('code', {}, c.identifier),
        item ? ' — ' + item : '', c.crime_ref ? ' — crime ref ' + c.crime_ref : '',
        e.force ? ' — ' + e.force : '', e.reported_on ? ' (reported ' + e.reported_on + ')' : '',
        c.source ? ' [' + c.source + ']' : '', edits));
    }
  }
  box.append(el('p', {class: 'muted'}, 'Check ', el('a', {href: '/checks/' + doc.id, id: 'check-id'}, doc.id),
    ` — ${doc.purpose.replace('_', ' ')} — officer ${doc.officer} — ${doc.station_id} — register v${doc.register_version} — ${doc.started_at}`));
  if ((doc.earlier_checks || []).length) {
    const ul = el('ul', {id: 'earlier'});
    for (const e of doc.earlier_checks) ul.append(el('li', {}, `${e.identifier} checked ${e.started_at} at ${e.station_id}: ${e.verdict || 'incomplete'} `, el('a', {href: '/checks/' + e.check_id}, 'open')));
    box.append(el('h3', {}, 'Earlier checks of these identifiers'), ul);
  }
  const imgs = (doc.images || []).filter(i => i.role === 'white' || i.role === 'uv');
  if (imgs.length) {
    const g = el('div', {class: 'images'});
    for (const i of imgs) g.append(el('figure', {}, el('img', {src: `/api/checks/${doc.id}/images/${i.role}?overlay=true`, alt: i.role + ' frame', class: 'frame-' + i.role}), el('figcaption', {}, i.role + ' light')));
    box.append(g);
  }
}
