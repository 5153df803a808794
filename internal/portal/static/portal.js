// seatkeeper portal: the page works without this script; with it, the page follows changes live
// and times are shown in the browser's time zone from the first visit.
(function () {
  'use strict';

  // First visit: take the browser's time zone (the selector in the header changes it).
  if (!document.cookie.split('; ').some(function (c) { return c.indexOf('tz=') === 0; })) {
    try {
      var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz) {
        document.cookie = 'tz=' + encodeURIComponent(tz) + '; path=/; max-age=31536000; samesite=strict';
        location.reload();
        return;
      }
    } catch (e) { /* keep UTC */ }
  }

  document.body.setAttribute('data-ready', '1');

  var src = document.body.getAttribute('data-live');
  if (!src || !window.EventSource || !document.getElementById('live')) {
    return;
  }
  var busy = false, again = false, timer = null;

  // swap replaces the live part of the page, keeping the sessions the viewer selected and the
  // element that has the keyboard focus.
  function swap(html) {
    var live = document.getElementById('live');
    var checked = {};
    live.querySelectorAll('input[type=checkbox]').forEach(function (e) {
      if (e.checked) { checked[e.name + '=' + e.value] = true; }
    });
    var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : '';
    live.innerHTML = html;
    live.querySelectorAll('input[type=checkbox]').forEach(function (e) {
      if (checked[e.name + '=' + e.value]) { e.checked = true; }
    });
    if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
    document.body.setAttribute('data-refreshed', String(Date.now()));
  }

  // refresh fetches the live part of the page again; one at a time, and once more if a change
  // came in meanwhile.
  function refresh() {
    if (busy) { again = true; return Promise.resolve(); }
    busy = true;
    return fetch(location.href, { headers: { 'X-Portal-Partial': 'live' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok || r.status === 403 ? r.text() : null; })
      .then(function (html) { if (html !== null) { swap(html); } })
      .catch(function () { /* the next change tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; return refresh(); }
      });
  }

  var feed = new EventSource(src);
  // The feed watches from the moment it opens: what changed between the page's rendering and
  // then is fetched once, after which the page is in step with the cluster.
  feed.addEventListener('open', function () {
    refresh().then(function () { document.body.setAttribute('data-live-state', 'open'); });
  });
  feed.addEventListener('change', function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 30);
  });
})();
