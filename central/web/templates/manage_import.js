// Kinline console: follows a running import job. The page carries the
// job's progress URL in data-progress on the <progress> element; this
// script polls it and reloads the page when the job has finished, so the
// server renders the report. Served from the console's embedded files
// (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var bar = document.getElementById("import-progress");
  if (!bar) { return; }
  var url = bar.getAttribute("data-progress");
  var label = document.getElementById("import-progress-label");
  var failures = 0;
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (j) {
        failures = 0;
        bar.value = j.percent;
        if (label) { label.textContent = j.percent + "% (" + j.done + " of " + j.total + ")"; }
        if (j.state !== "running") { window.location.reload(); return; }
        window.setTimeout(poll, 500);
      })
      .catch(function () {
        failures++;
        if (label && failures > 5) { label.textContent = "Lost contact with the server; reload the page to see the result."; return; }
        window.setTimeout(poll, 1000 * failures);
      });
  }
  poll();
})();
