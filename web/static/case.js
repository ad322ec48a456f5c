// The case page: exports still queued or running show their state and progress, from
// the creator's socket (``export.progress``) where the jobs role runs in the web process,
// and from GET /api/v1/exports/{id} every few seconds otherwise (issue 15.4). A finished
// export's state links to its package's media page once the page is reloaded.
(function () {
  "use strict";
  const cells = {};
  for (const cell of document.querySelectorAll("#case-exports .export-state")) {
    if (cell.dataset.state === "queued" || cell.dataset.state === "running") {
      cells[cell.dataset.export] = cell;
    }
  }
  const drawn = {}; // each job's state last drawn
  function render(job) {
    const cell = cells[job.id];
    if (!cell) return;
    // A poll's answer, late, came after the event that said the job went on and drew it
    // back (queued again, a lower percentage): never behind what is drawn.
    if (window.vmsJobProgress.behind(drawn[job.id] || null, job)) return;
    drawn[job.id] = { state: job.state, progress: job.progress };
    cell.dataset.state = job.state;
    const words = cell.querySelector("span");
    const bar = cell.querySelector("progress");
    if (bar) bar.value = job.progress || 0;
    if (job.state === "done" || job.state === "failed") {
      delete cells[job.id];
      if (bar) bar.remove();
      words.textContent = job.state === "failed" ? "failed: " + (job.error || "unknown error") : "done";
    } else {
      words.textContent = job.state + " " + Math.round((job.progress || 0) * 100) + " %";
    }
  }
  function poll() {
    const ids = Object.keys(cells);
    if (!ids.length) return;
    Promise.all(ids.map(function (id) {
      return fetch("/api/v1/exports/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) { if (job) render(job); })
        .catch(function () { /* the next round retries */ });
    })).then(function () { setTimeout(poll, 3000); });
  }
  if (window.vmsSocket) window.vmsSocket.on("export.progress", render);
  if (Object.keys(cells).length) setTimeout(poll, 1000);
})();
