// Enhancements only: every feature works without this file.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("#list-form input[name=uid]").forEach(function (b) { b.checked = all.checked; });
    });
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
  // Keyboard: c compose, / search, j/k move between messages, Enter opens.
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.msg a.msg-link"));
  var at = -1;
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "c") { var c = document.getElementById("compose"); if (c) { c.click(); } }
    else if (e.key === "/") { var q = document.querySelector("#search-form input[name=q]"); if (q) { e.preventDefault(); q.focus(); } }
    else if ((e.key === "j" || e.key === "k") && rows.length) {
      at = Math.max(0, Math.min(rows.length - 1, at + (e.key === "j" ? 1 : -1)));
      rows[at].focus();
    }
  });
})();
