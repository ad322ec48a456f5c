// PTZ-use report page: fetch the report and draw the table and the session timeline.
// No inline script or style attributes (CSP): styles are set through the CSSOM.
(function () {
  "use strict";
  const form = document.getElementById("ptz-report-form");
  const body = document.querySelector("#ptz-table tbody");
  const timeline = document.getElementById("ptz-timeline");
  const error = document.getElementById("ptz-error");
  const csv = document.getElementById("ptz-csv");
  const hours = document.getElementById("ptz-hours");
  const period = document.getElementById("ptz-period");

  function cell(row, text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    row.appendChild(td);
  }

  function minutes(seconds) {
    return (seconds / 60).toFixed(1);
  }

  // A camera as people know it: its name, else its id (a camera removed since).
  function cameraName(report, id) {
    return (report.camera_names && report.camera_names[id]) || id;
  }

  function draw(report) {
    // The period the report covers (the form may be empty: the API's default), on the
    // agency's clock (static/agency_time.js).
    period.textContent = "Period: " + window.vmsTime.format(report.start) + " to " +
      window.vmsTime.format(report.end);
    hours.textContent = "Outside hours: use outside " + report.allowed_hours + " (" +
      report.time_zone + ")";
    body.replaceChildren();
    for (const r of report.rows) {
      const tr = document.createElement("tr");
      cell(tr, r.user);
      cell(tr, cameraName(report, r.camera_id));
      cell(tr, r.sessions, true);
      cell(tr, r.sessions_without_incident, true);
      cell(tr, r.commands, true);
      cell(tr, r.commands_refused, true);
      cell(tr, minutes(r.seconds_in_control), true);
      cell(tr, minutes(r.seconds_zoomed_in), true);
      cell(tr, r.commands_outside_hours + r.sessions_outside_hours, true);
      cell(tr, r.commands_into_masks, true);
      body.appendChild(tr);
    }
    if (!report.rows.length) {  // an empty table under its headings says nothing
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 10;
      td.className = "empty";
      td.textContent = "No camera control in this period.";
      tr.appendChild(td);
      body.appendChild(tr);
    }
    timeline.replaceChildren();
    if (!report.timeline.length) {
      const none = document.createElement("p");
      none.className = "muted";
      none.textContent = "No sessions in this period.";
      timeline.appendChild(none);
    }
    const start = Date.parse(report.start);
    const span = Date.parse(report.end) - start;
    for (const s of report.timeline) {
      const line = document.createElement("div");
      line.className = "ptz-lane";
      const label = document.createElement("span");
      label.textContent = s.user + " · " + cameraName(report, s.camera_id) + " · " + (s.purpose || "");
      const bar = document.createElement("span");
      bar.className = "ptz-bar";
      const from = Math.max(0, Date.parse(s.start) - start);
      const to = Math.min(span, (s.end ? Date.parse(s.end) : start + span) - start);
      bar.style.marginLeft = (100 * from / span) + "%";
      bar.style.width = Math.max(0.5, 100 * (to - from) / span) + "%";
      bar.style.display = "inline-block";
      bar.style.height = "0.8em";
      bar.style.background = s.incident_number ? "#2b6cb0" : "#c05621";
      bar.title = window.vmsTime.format(s.start) + " → " +
        (s.end ? window.vmsTime.format(s.end) : "open") + ", " + s.commands.length + " commands";
      line.appendChild(label);
      line.appendChild(document.createElement("br"));
      line.appendChild(bar);
      timeline.appendChild(line);
    }
  }

  // Periods asked one after the other can be answered out of order: the first one's
  // report, answered last, was drawn under a form (and CSV link) showing the second. Only
  // the answer to the period asked last is drawn.
  let asked = 0;
  async function load() {
    const ticket = ++asked;
    const params = new URLSearchParams();
    const start = document.getElementById("ptz-start").value.trim();
    const end = document.getElementById("ptz-end").value.trim();
    if (start) params.set("start", start);
    if (end) params.set("end", end);
    csv.href = "/api/v1/audit/ptz?format=csv&" + params.toString();
    const reply = await fetch("/api/v1/audit/ptz/report?" + params.toString(),
                              {credentials: "same-origin"});
    const data = await reply.json();
    if (ticket !== asked) return;
    if (!reply.ok) {
      error.textContent = data.error ? data.error.message : "The report could not be loaded.";
      error.hidden = false;
      return;
    }
    error.hidden = true;
    draw(data);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    load();
  });
  load();
})();
