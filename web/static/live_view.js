// Live view pages (/live, /live/<id>): start each camera's privacy-masked picture (an
// MJPEG stream, or a snapshot refreshed every data-every seconds) and keep its health and
// controller up to date from Socket.IO (camera.health, ptz.session) and, after each
// (re)connection, from the API (events sent while disconnected are lost).
(function () {
  "use strict";
  const RETRY_MS = 10000;

  function again(url) {
    return url + (url.includes("?") ? "&" : "?") + "t=" + Date.now();
  }

  function missing(img, gone) {
    const note = img.parentElement.querySelector(".no-picture");
    if (note) note.hidden = !gone;
    img.classList.toggle("failed", gone);
  }

  function stream(img) {
    img.addEventListener("load", () => missing(img, false));
    img.addEventListener("error", () => {
      // 503 (no media engine here), 404, a stalled stream: say so, try again later.
      missing(img, true);
      setTimeout(() => { img.src = again(img.dataset.stream); }, RETRY_MS);
    });
    img.src = img.dataset.stream;
  }

  function snapshots(img) {
    const every = 1000 * (parseFloat(img.dataset.every) || 10);
    // One request at a time, the next one a period after the last answer.
    function next() { setTimeout(load, document.hidden ? 1000 : every); }
    function load() {
      if (document.hidden) { next(); return; }
      img.src = again(img.dataset.snapshot);
    }
    img.addEventListener("load", () => { missing(img, false); next(); });
    img.addEventListener("error", () => { missing(img, true); next(); });
    img.src = img.dataset.snapshot;
  }

  window.vmsStream = stream;  // whep.js falls back to MJPEG through it
  document.querySelectorAll("img[data-stream]").forEach(stream);
  document.querySelectorAll("img[data-snapshot]").forEach(snapshots);

  function slots(cameraId, role) {
    return document.querySelectorAll(
      '[data-camera-id="' + CSS.escape(cameraId) + '"] [data-role="' + role + '"]');
  }

  function controllerText(c) {
    if (!c) return "Nobody in control";
    let text = "Controlled by " + c.username + " · " + String(c.purpose).replace(/_/g, " ");
    if (c.incident_number) text += " · incident " + c.incident_number;
    return text;
  }

  function showHealth(cameraId, health, detail) {
    slots(cameraId, "health").forEach((el) => {
      el.textContent = health || "unknown";
      el.className = "health " + (health || "unknown");
      el.title = detail || "";
    });
  }

  function showController(cameraId, controller) {
    slots(cameraId, "controller").forEach((el) => { el.textContent = controllerText(controller); });
  }

  // Per camera, the session sequence (docs/design/ptz-arbitration.md P6) of the
  // controller shown: an answer to GET .../ptz/session or an event older than it must
  // not undo it (a slow answer on a loaded server showed "Nobody in control" over the
  // event that said who took control; an event delivered late, over a newer answer).
  // An event applies when newer, an answer when not older. The page starts from the
  // number it was rendered with (data-session-seq): an event published before the
  // render and delivered after it is older than what the page shows.
  // Without a sequence (a node from before P6, during a rolling upgrade), an event
  // cannot be ordered: before anything numbered it applies, as before P6; after, it
  // is not drawn (a stale holder stayed drawn) and the controller is read again
  // (readController), whose answer decides.
  const sessionSeqs = new Map();
  document.querySelectorAll("[data-camera-id][data-session-seq]").forEach((el) => {
    const seq = parseInt(el.dataset.sessionSeq, 10);
    if (Number.isInteger(seq)) sessionSeqs.set(el.dataset.cameraId, seq);
  });
  // Per camera, how many numbered events and answers were applied: an answer without a
  // number applies only if none was since it was asked (what came before the read is
  // not newer than its answer).
  const numberedApplied = new Map();
  function fresh(cameraId, seq, strict) {
    if (typeof seq !== "number") return !sessionSeqs.has(cameraId);
    const shown = sessionSeqs.get(cameraId) || 0;
    if (strict ? seq <= shown : seq < shown) return false;
    sessionSeqs.set(cameraId, seq);
    numberedApplied.set(cameraId, (numberedApplied.get(cameraId) || 0) + 1);
    return true;
  }
  async function readController(cameraId) {
    const before = numberedApplied.get(cameraId) || 0;
    const s = await fetch("/api/v1/cameras/" + encodeURIComponent(cameraId) + "/ptz/session",
                          { credentials: "same-origin" });
    if (!s.ok) return;
    const answer = await s.json();
    const applies = typeof answer.session_seq === "number"
      ? fresh(cameraId, answer.session_seq, false)
      : (numberedApplied.get(cameraId) || 0) === before;
    if (applies) showController(cameraId, answer.controller);
  }
  // So for camera.health: the list read at a (re)connection, answered late, showed a
  // camera online over the event that said it went offline.
  const healthEvents = new Map();
  let healthHeard = 0;

  async function refresh() {
    const shown = new Set(Array.from(document.querySelectorAll("[data-camera-id]"),
                                     (el) => el.dataset.cameraId));
    const before = new Map(healthEvents);
    try {
      const reply = await fetch("/api/v1/cameras", { credentials: "same-origin" });
      if (!reply.ok) return;
      for (const c of (await reply.json()).cameras) {
        if (!shown.has(c.id)) continue;
        if (healthEvents.get(c.id) === before.get(c.id)) showHealth(c.id, c.health, c.health_detail);
        await readController(c.id);
      }
    } catch (e) { /* offline: the next connection refreshes */ }
  }

  // Privacy-mask lifts (PSCS-1 exceptions): the banner of each camera shown lists the
  // running ones, hides each at its end, and is re-read from the API every LIFT_POLL_MS.
  const LIFT_POLL_MS = 20000;

  function liftText(l) {
    const until = window.vmsTime.format(l.ends_at); // the agency's clock, with its zone
    return "Privacy mask \u201c" + l.mask_name + "\u201d lifted until " + until + " (" +
      l.reason + ", by " + l.granted_by + "). ";
  }

  function showLifts(cameraId, lifts) {
    slots(cameraId, "lift-banner").forEach((el) => {
      el.replaceChildren(...lifts.map((l) => {
        const span = document.createElement("span");
        span.dataset.ends = l.ends_at;
        span.textContent = liftText(l);
        return span;
      }));
      expireLifts(el);
    });
  }

  function expireLifts(el) {
    el.querySelectorAll("span[data-ends]").forEach((span) => {
      if (Date.parse(span.dataset.ends) <= Date.now()) span.remove();
    });
    el.hidden = !el.querySelector("span[data-ends]");
  }

  // A poll answered late came back after the read that followed a lift's end (the camera
  // page's panel reads again after each change) and showed the lift running again until
  // the next poll. Per camera, an answer to an older read than the one drawn is not drawn.
  const liftReads = new Map(); // camera id -> { sent, drawn }
  async function refreshLifts() {
    const banners = document.querySelectorAll('[data-camera-id] [data-role="lift-banner"]');
    const ids = new Set(Array.from(banners, (el) => el.closest("[data-camera-id]").dataset.cameraId));
    for (const id of ids) {
      if (!liftReads.has(id)) liftReads.set(id, { sent: 0, drawn: 0 });
      const reads = liftReads.get(id);
      const ticket = ++reads.sent;
      try {
        const r = await fetch("/api/v1/cameras/" + encodeURIComponent(id) +
                              "/mask-lifts?running=true", { credentials: "same-origin" });
        if (!r.ok) continue;
        const lifts = (await r.json()).lifts;
        if (ticket < reads.drawn) continue;
        reads.drawn = ticket;
        showLifts(id, lifts);
      } catch (e) { /* offline: the next round */ }
    }
  }

  setInterval(() => {
    document.querySelectorAll('[data-role="lift-banner"]').forEach(expireLifts);
  }, 1000);
  setInterval(refreshLifts, LIFT_POLL_MS);
  window.vmsRefreshLifts = refreshLifts;

  const socket = window.vmsSocket;
  if (!socket) return;
  socket.on("camera.health", (msg) => {
    healthEvents.set(msg.camera_id, ++healthHeard);
    showHealth(msg.camera_id, msg.health, msg.detail);
  });
  socket.on("ptz.session", (msg) => {
    if (typeof msg.session_seq !== "number" && sessionSeqs.has(msg.camera_id)) {
      readController(msg.camera_id).catch(() => { /* offline: the next connection reads */ });
    } else if (fresh(msg.camera_id, msg.session_seq, true)) {
      showController(msg.camera_id, msg.controller);
    }
  });
  // Also at once when the socket connected before this script ran: an event sent before
  // it listened was lost.
  window.vmsOnConnected(socket, refresh);
})();
