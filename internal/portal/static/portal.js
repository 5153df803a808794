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
  if (!src || !window.EventSource || !document.querySelector('[data-live-part]')) {
    return;
  }
  var busy = false, again = false, timer = null;

  // swap replaces the live parts of the page (elements with data-live-part) with those of the
  // fresh HTML, keeping the sessions the viewer selected and the element that has the focus.
  function swap(html) {
    var fresh = document.createElement('template');
    fresh.innerHTML = html;
    var focused = document.activeElement ? document.activeElement.id : '';
    fresh.content.querySelectorAll('[data-live-part]').forEach(function (part) {
      var old = document.querySelector('[data-live-part="' + part.getAttribute('data-live-part') + '"]');
      if (!old) { return; }
      var checked = {};
      old.querySelectorAll('input[type=checkbox]').forEach(function (e) {
        if (e.checked) { checked[e.name + '=' + e.value] = true; }
      });
      old.innerHTML = part.innerHTML;
      old.querySelectorAll('input[type=checkbox]').forEach(function (e) {
        if (checked[e.name + '=' + e.value]) { e.checked = true; }
      });
    });
    if (focused && document.getElementById(focused) && document.activeElement !== document.getElementById(focused)) {
      document.getElementById(focused).focus();
    }
    document.body.setAttribute('data-refreshed', String(Date.now()));
  }

  // refresh fetches the live part of the page again; one at a time, and once more if a change
  // came in meanwhile.
  function refresh() {
    if (busy) { again = true; return Promise.resolve(); }
    busy = true;
    return fetch(document.body.getAttribute('data-live-url') || location.href, { headers: { 'X-Portal-Partial': 'live' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok || r.status === 403 ? r.text() : null; })
      .then(function (html) { if (html !== null) { swap(html); } })
      .catch(function () { /* the next change tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; return refresh(); }
      });
  }

  var feed = null;
  // follow opens the feed. It watches from the moment it opens: what changed between the page's
  // rendering and then is fetched once, after which the page is in step with the cluster.
  function follow() {
    if (feed) { return; }
    feed = new EventSource(src);
    feed.addEventListener('open', function () {
      refresh().then(function () { document.body.setAttribute('data-live-state', 'open'); });
    });
    feed.addEventListener('change', function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 30);
    });
    feed.addEventListener('error', function () {
      // Closed for good (204: nothing this viewer may follow); else the browser reconnects.
      if (feed && feed.readyState === EventSource.CLOSED) {
        document.body.setAttribute('data-live-state', 'none');
      }
    });
  }
  // A hidden tab lets go of its feed: a browser keeps only six connections to one plain-HTTP
  // portal, and every open tab would hold one.
  document.addEventListener('visibilitychange', function () {
    if (document.hidden && feed) {
      feed.close();
      feed = null;
      document.body.removeAttribute('data-live-state');
    } else if (!document.hidden) {
      follow();
    }
  });
  follow();
})();
