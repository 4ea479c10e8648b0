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
