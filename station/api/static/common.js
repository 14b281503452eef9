// Every page: log a shared desk out when no one has touched it for a while (the time comes
// from settings via <body data-idle-logout>), and tell the next person why they were logged out.
'use strict';
(function () {
  const notice = document.getElementById('idle-notice');
  if (notice && sessionStorage.getItem('idle-logout')) {
    notice.hidden = false;
    sessionStorage.removeItem('idle-logout');
  }
  const seconds = parseInt(document.body.dataset.idleLogout || '0', 10);
  const form = document.getElementById('logout-form');
  if (!form || !(seconds > 0)) return;
  const warnFor = Math.min(30, Math.floor(seconds / 2));
  const banner = document.getElementById('idle-warning');
  const left = document.getElementById('idle-left');
  let warnTimer = null, outTimer = null, tick = null;
  function logout() {
    sessionStorage.setItem('idle-logout', '1');
    form.submit();
  }
  function warn() {
    let n = warnFor;
    left.textContent = String(n);
    banner.hidden = false;
    tick = setInterval(() => { n = Math.max(0, n - 1); left.textContent = String(n); }, 1000);
  }
  function reset() {
    clearTimeout(warnTimer); clearTimeout(outTimer); clearInterval(tick);
    banner.hidden = true;
    warnTimer = setTimeout(warn, (seconds - warnFor) * 1000);
    outTimer = setTimeout(logout, seconds * 1000);
  }
  for (const ev of ['pointerdown', 'keydown', 'touchstart', 'wheel']) {
    document.addEventListener(ev, reset, {passive: true, capture: true});
  }
  reset();
})();
