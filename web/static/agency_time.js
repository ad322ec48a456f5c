// Times the scripts write on a page, on the agency's clock with its zone, as the server
// draws them (the `when` filter, docs/design/time.md): "2026-11-20 09:00:00 CST". The
// zone is the configuration's time_zone, in <meta name="vms-time-zone"> (base.html).
// Inputs and the API stay UTC; this only formats what a person reads.
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="vms-time-zone"]');
  const zone = (meta && meta.content) || "UTC";
  // The server's names of the zone's offsets (minutes east of UTC: "CET", "IST", "-03"),
  // in <meta name="vms-time-zone-names">: Intl's short names are US ones only ("GMT+1"),
  // and a page showing both must not name one time two ways (web/pages/filters.py).
  let names = {};
  try {
    const listed = document.querySelector('meta[name="vms-time-zone-names"]');
    names = JSON.parse((listed && listed.content) || "{}");
  } catch (_e) {
    names = {}; // Intl's names, then
  }
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", timeZoneName: "short",
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  } catch (_e) {
    parts = null; // a zone this browser does not know: say UTC rather than guess
  }

  // ms since the epoch (or an ISO string) as "YYYY-MM-DD HH:MM:SS ZZZ"; tenths: with the
  // tenth of a second (the players' clocks).
  function format(value, tenths) {
    const ms = typeof value === "number" ? value : Date.parse(value);
    if (!Number.isFinite(ms)) return "";
    const date = new Date(ms);
    let text;
    let name;
    if (parts) {
      const p = {};
      for (const part of parts.formatToParts(date)) p[part.type] = part.value;
      text = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
      // The wall clock read as UTC, less the instant (to the second): the zone's offset.
      const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
      const offset = Math.round((wall - Math.floor(ms / 1000) * 1000) / 60000);
      name = Object.prototype.hasOwnProperty.call(names, offset) ? names[offset] : p.timeZoneName;
    } else {
      text = date.toISOString().slice(0, 19).replace("T", " ");
      name = "UTC";
    }
    if (tenths) text += "." + Math.floor((((ms % 1000) + 1000) % 1000) / 100);
    return text + " " + name;
  }

  window.vmsTime = { zone: parts ? zone : "UTC", format: format };
})();
