// Outcomes page: record items booked in; a refusal is shown in words, never as raw JSON.
'use strict';
(function () {
  const form = document.getElementById('booking-form');
  if (!form) return;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = document.getElementById('booking-error');
    err.hidden = true;
    const r = await fetch('/api/bookings', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({
      station_id: document.getElementById('b-station').value, day: document.getElementById('b-day').value,
      items: parseInt(document.getElementById('b-items').value, 10), reference: document.getElementById('b-ref').value})});
    if (r.ok) { location.reload(); return; }
    const d = await r.json().catch(() => ({}));
    err.textContent = 'Not recorded: ' + (typeof d.detail === 'string' ? d.detail
      : (d.detail || []).map(p => (p.loc || []).slice(-1)[0] + ' ' + p.msg).join('; ') || 'the booking was refused');
    err.hidden = false;
  });
})();
