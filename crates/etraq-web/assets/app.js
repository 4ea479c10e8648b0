// etraq console: the only script. Pages work without it; it adds auto-refresh to listings.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  if (!box) { return; }
  var key = "etraq-auto-refresh";
  var timer = null;
  try { box.checked = window.localStorage.getItem(key) === "1"; } catch (e) { /* storage off */ }
  function arm() {
    if (timer) { window.clearTimeout(timer); timer = null; }
    if (box.checked) { timer = window.setTimeout(function () { window.location.reload(); }, 30000); }
  }
  box.addEventListener("change", function () {
    try { window.localStorage.setItem(key, box.checked ? "1" : "0"); } catch (e) { /* storage off */ }
    arm();
  });
  arm();
}());
// A campaign's page: its progress bar follows the sending, polling the campaign's JSON each
// second while it is scheduled or running (the page shows the same figures without script).
(function () {
  "use strict";
  var box = document.getElementById("campaign-progress");
  if (!box || !window.fetch) { return; }
  var src = box.getAttribute("data-src");
  var ids = ["sent", "failed", "doubt", "skipped", "done", "total", "status"];
  var el = {};
  ids.forEach(function (k) { el[k] = document.getElementById("progress-" + k); });
  var bar = document.getElementById("progress-bar");
  function show(c) {
    var done = c.sent + c.failed + c.in_doubt + c.skipped;
    bar.max = Math.max(c.recipients, 1);
    bar.value = done;
    el.sent.textContent = c.sent; el.failed.textContent = c.failed;
    el.doubt.textContent = c.in_doubt; el.skipped.textContent = c.skipped;
    el.done.textContent = done; el.total.textContent = c.recipients;
    el.status.textContent = c.status;
    return c.status === "scheduled" || c.status === "running";
  }
  function poll() {
    window.fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (c && show(c)) { window.setTimeout(poll, 1000); }
        else if (c) { window.setTimeout(function () { window.location.reload(); }, 500); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  var status = el.status ? el.status.textContent : "";
  if (status === "scheduled" || status === "running") { window.setTimeout(poll, 1000); }
}());

// A job's live progress bar (the Utilities pages): polls the job, without its results, every
// second until it ends, then reloads the page to show them.
(function () {
  var box = document.getElementById("job-progress");
  if (!box || !window.fetch) { return; }
  var src = box.getAttribute("data-src");
  var bar = document.getElementById("job-bar");
  var el = {};
  ["state", "done", "total", "results", "rate", "eta"].forEach(function (k) { el[k] = document.getElementById("job-" + k); });
  function eta(j) {
    var left = Math.max(j.total - j.done, 0);
    if (!(j.rate > 0) || left === 0) { return "—"; }
    var s = Math.ceil(left / j.rate);
    return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }
  function show(j) {
    var total = Math.max(j.total, j.done, 1);
    bar.max = total;
    bar.value = j.done;
    el.state.textContent = j.state; el.done.textContent = j.done;
    el.total.textContent = Math.max(j.total, j.done); el.results.textContent = j.results;
    el.rate.textContent = (j.rate || 0).toFixed(1);
    el.eta.textContent = eta(j);
    return j.state === "queued" || j.state === "running";
  }
  function poll() {
    window.fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d && show(d.job)) { window.setTimeout(poll, 1000); }
        else if (d) { window.setTimeout(function () { window.location.reload(); }, 300); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  var state = el.state ? el.state.textContent : "";
  if (state === "queued" || state === "running") { window.setTimeout(poll, 1000); }
}());
// A DR's page: "Insert into the reply" puts a suggested article's text into the reply at the
// cursor (the page works without script: the article is shown and can be copied).
(function () {
  "use strict";
  var body = document.getElementById("f-reply-body");
  if (!body) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("button.insert-article"), function (b) {
    b.addEventListener("click", function () {
      var text = b.getAttribute("data-insert") || "";
      var start = body.selectionStart || 0;
      var end = body.selectionEnd || start;
      var before = body.value.slice(0, start);
      var sep = before && !/\n\n$/.test(before) ? (/\n$/.test(before) ? "\n" : "\n\n") : "";
      body.value = before + sep + text + "\n" + body.value.slice(end);
      var at = (before + sep + text + "\n").length;
      body.focus();
      body.setSelectionRange(at, at);
    });
  });
}());
// A DR's reply draft survives looking for another article (a page load): it is kept in the
// tab's session storage until the reply is sent.
(function () {
  "use strict";
  var body = document.getElementById("f-reply-body");
  var key = "etraq-draft:" + window.location.pathname;
  var store = null;
  try { store = window.sessionStorage; } catch (e) { return; }
  if (/[?&]done=replied/.test(window.location.search)) { store.removeItem(key); }
  if (!body) { return; }
  if (!body.value) { body.value = store.getItem(key) || ""; }
  body.addEventListener("input", function () { store.setItem(key, body.value); });
}());
