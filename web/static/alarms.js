// Alarms as they happen (issue 12.3). On the alarms page: the list is reloaded from the
// server when an alarm is raised, cleared or acknowledged (alarm.* over Socket.IO), so
// what is shown is always the server's list with its acknowledge forms. On the wall and
// the camera page: each camera's open alarms in its [data-role="alarms"] slot, read
// from GET /api/v1/alarms?open=true after each (re)connection (events sent while
// disconnected are lost) and kept current from the events.
(function () {
  "use strict";
  const socket = window.vmsSocket;
  const list = document.getElementById("alarm-list");

  // Reloads can be answered out of order: the one after a raise, answered late, came
  // back after the one after an acknowledgement and showed the alarm unacknowledged
  // again. Each event is published once stored and a reload follows it, so the last one
  // sent knows every change heard: an answer to an older reload than the one drawn is
  // not drawn.
  let sent = 0;
  let drawn = 0;
  async function reloadList() {
    const ticket = ++sent;
    try {
      const reply = await fetch(window.location.href, { credentials: "same-origin" });
      if (!reply.ok) return;
      const text = await reply.text();
      if (ticket < drawn) return;
      drawn = ticket;
      const page = new DOMParser().parseFromString(text, "text/html");
      const fresh = page.getElementById("alarm-list");
      const empty = page.getElementById("alarms-empty");
      if (!fresh) return;
      // Keep the keyboard focus where it was when the list is replaced under it.
      const focused = document.activeElement && document.activeElement.closest("tr[data-alarm-id]");
      list.replaceChildren(...fresh.childNodes);
      list.hidden = fresh.hidden;
      document.getElementById("alarms-empty").hidden = empty ? empty.hidden : true;
      if (focused) {
        const again = list.querySelector('tr[data-alarm-id="' + focused.dataset.alarmId + '"] button');
        if (again) again.focus();
      }
    } catch (e) { /* offline: the next event or connection reloads */ }
  }

  // -- camera tiles and the camera page ------------------------------------------------
  const open = new Map();  // alarm id -> alarm, open ones of the cameras shown

  // A camera's slots, or (cameraId null: the disk alarm) the page's site-wide slot.
  function slots(cameraId) {
    if (cameraId === null) return document.querySelectorAll('[data-role="site-alarms"]');
    return document.querySelectorAll(
      '[data-camera-id="' + CSS.escape(cameraId) + '"] [data-role="alarms"]');
  }

  function render(cameraId) {
    const mine = Array.from(open.values()).filter((a) => (a.camera_id || null) === cameraId);
    slots(cameraId).forEach((el) => {
      el.replaceChildren(...mine.map((a) => {
        const span = document.createElement("span");
        span.className = "alarm-kind " + a.kind;
        span.dataset.kind = a.kind;
        span.textContent = a.label;
        span.title = a.detail || "";
        return span;
      }));
      el.hidden = mine.length === 0;
      const tile = cameraId === null ? null : el.closest("[data-camera-id]");
      if (tile) tile.classList.toggle("alarmed", mine.length > 0);
    });
  }

  function shownCameras() {
    const shown = new Set(Array.from(document.querySelectorAll('[data-camera-id] [data-role="alarms"]'),
                                     (el) => el.closest("[data-camera-id]").dataset.cameraId));
    if (document.querySelector('[data-role="site-alarms"]')) shown.add(null);
    return shown;
  }

  // An event heard while the read is on its way may be newer than its answer (an alarm
  // cleared after the read was served showed again when the answer came): the events
  // each read heard meanwhile are applied again over its answer, in order.
  const reads = new Set(); // per read on its way: the events heard since it was sent
  async function refreshOpen() {
    const cameras = shownCameras();
    if (cameras.size === 0) return;
    const heard = [];
    reads.add(heard);
    try {
      const reply = await fetch("/api/v1/alarms?open=true&limit=500", { credentials: "same-origin" });
      if (!reply.ok) return;
      const alarms = (await reply.json()).alarms;
      open.clear();
      for (const a of alarms) open.set(a.id, a);
      heard.forEach(remember);
      cameras.forEach(render);
    } catch (e) { /* offline: the next connection refreshes */ } finally {
      reads.delete(heard);
    }
  }

  function remember(alarm) {
    if (alarm.open) open.set(alarm.id, alarm); else open.delete(alarm.id);
  }

  function changed(alarm) {
    reads.forEach((heard) => heard.push(alarm));
    remember(alarm);
    render(alarm.camera_id || null);
    if (list) reloadList();
  }

  if (!socket) return;
  socket.on("alarm.raised", changed);
  socket.on("alarm.changed", changed);
  socket.on("alarm.cleared", changed);
  socket.on("alarm.acknowledged", changed);
  window.vmsOnConnected(socket, () => { refreshOpen(); if (list) reloadList(); });
})();
