// Kinline console: keeps the calls-in-progress table live. The page is
// complete without this script (a list with a reload link); with it, the
// table's rows are fetched again every two seconds from the JSON in the
// table's data-live, and each call's elapsed time ticks every second in
// between. Rows are built with DOM methods only (no HTML from data).
(function () {
  "use strict";
  var table = document.getElementById("live-calls");
  if (!table || !window.fetch) { return; }
  var url = table.getAttribute("data-live");
  var csrf = table.getAttribute("data-csrf");
  var tbody = table.tBodies[0];
  var status = document.getElementById("live-status");
  var fetchedAt = 0;
  var failures = 0;

  function mmss(s) {
    s = Math.max(0, Math.floor(s));
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (text !== undefined) { td.textContent = text; }
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }
  function badge(kind) {
    var span = document.createElement("span");
    span.textContent = kind;
    span.className = kind === "privileged" ? "priv" : "badge neutral";
    return span;
  }
  function row(c) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-call", c.call_id);
    var who = cell(tr, c.name ? c.name + " " : "");
    var pn = document.createElement("span");
    pn.className = "muted";
    pn.textContent = c.prison_number;
    who.appendChild(pn);
    var started = cell(tr);
    var t = document.createElement("time");
    t.setAttribute("datetime", c.start);
    t.textContent = c.start_text;
    started.appendChild(t);
    var el = cell(tr, mmss(c.elapsed_seconds), "n elapsed");
    el.setAttribute("data-elapsed", c.elapsed_seconds);
    cell(tr, c.limit_seconds > 0 ? mmss(c.limit_seconds) : "none", "n");
    cell(tr, c.block);
    cell(tr, c.terminal);
    cell(tr, c.number);
    var kind = cell(tr);
    if (c.kind === "recorded") { kind.textContent = "recorded"; } else { kind.appendChild(badge(c.kind)); }
    var end = cell(tr);
    if (c.endable) {
      var f = document.createElement("form");
      f.method = "post";
      f.action = "/calls/" + encodeURIComponent(c.call_id) + "/end";
      f.className = "inline";
      var h = document.createElement("input");
      h.type = "hidden"; h.name = "csrf"; h.value = csrf;
      var b = document.createElement("button");
      b.type = "submit"; b.className = "danger"; b.textContent = "End call";
      b.setAttribute("aria-label", "End call on " + c.terminal + " to " + c.number);
      f.appendChild(h); f.appendChild(b); end.appendChild(f);
    }
    return tr;
  }
  function render(j) {
    var rows = document.createDocumentFragment();
    j.calls.forEach(function (c) { rows.appendChild(row(c)); });
    if (!j.calls.length) {
      var tr = document.createElement("tr");
      var td = cell(tr, "No call in progress.", "muted");
      td.colSpan = 9;
      rows.appendChild(tr);
    }
    // A form being used (focus inside) keeps its row until the next poll.
    if (tbody.contains(document.activeElement) && document.activeElement !== document.body) { return; }
    tbody.replaceChildren(rows);
  }
  function tick() {
    var since = (Date.now() - fetchedAt) / 1000;
    tbody.querySelectorAll("td[data-elapsed]").forEach(function (td) {
      td.textContent = mmss(Number(td.getAttribute("data-elapsed")) + since);
    });
  }
  function say(msg) {
    if (status && status.textContent !== msg) { status.textContent = msg; }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (j) {
        failures = 0;
        fetchedAt = Date.now();
        render(j);
        say("Live: the list updates by itself.");
        window.setTimeout(poll, 2000);
      })
      .catch(function () {
        failures++;
        if (failures > 2) { say("Lost contact with the server; retrying. Reload the page if this stays."); }
        window.setTimeout(poll, Math.min(30000, 2000 * failures));
      });
  }
  window.setInterval(tick, 1000);
  poll();
})();
