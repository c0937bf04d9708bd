// Abacus dashboard live updates (no dependency, served by the binary).
// Every few seconds, ask the server for the current page with the version shown as ETag; on a
// 304 nothing changed; on a 200 a new aggregation run (or registry change) arrived, so the
// page's <main> is replaced in place, without a reload, and the change is announced to
// screen readers. Stops polling while the tab is hidden.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  function version() {
    var m = document.querySelector('meta[name="abacus-version"]');
    return m ? m.getAttribute("content") : "";
  }
  function poll() {
    if (document.hidden) { return; }
    fetch(location.href, {
      headers: { "If-None-Match": 'W/"v' + version() + '"', "Accept": "text/html" },
      cache: "no-store",
      credentials: "same-origin"
    }).then(function (res) {
      if (res.status !== 200) { return null; }
      return res.text();
    }).then(function (text) {
      if (!text) { return; }
      var doc = new DOMParser().parseFromString(text, "text/html");
      var fresh = doc.querySelector("main");
      var main = document.querySelector("main");
      var meta = doc.querySelector('meta[name="abacus-version"]');
      if (!fresh || !main || !meta) { return; }
      var focused = document.activeElement && document.activeElement.id;
      main.innerHTML = fresh.innerHTML;
      document.querySelector('meta[name="abacus-version"]').setAttribute("content", meta.getAttribute("content"));
      document.title = doc.title;
      if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
      var run = document.getElementById("run-id");
      var live = document.getElementById("live");
      if (live) { live.textContent = run ? "Updated: run " + run.textContent : "Updated"; }
    }).catch(function () { /* offline or restarting: try again at the next tick */ });
  }
  setInterval(poll, PERIOD_MS);
})();
