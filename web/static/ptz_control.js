// Steering one camera (/live/<id>): take control with a purpose (POST .../ptz/session),
// move while a button or arrow key is held (ptz.command "continuous" over Socket.IO, then
// "stop"), presets, release (DELETE .../ptz/session). Every command is checked, arbitrated
// and audited by the server (INV-6); this page only shows what it answers.
(function () {
  "use strict";
  const panel = document.getElementById("ptz");
  if (!panel) return;
  const cameraId = panel.dataset.camera;
  const me = panel.dataset.username;
  const base = "/api/v1/cameras/" + encodeURIComponent(cameraId);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const socket = window.vmsSocket || null;
  const form = document.getElementById("take-control");
  const controls = document.getElementById("ptz-controls");
  const notice = document.getElementById("ptz-notice");
  const poseOut = document.getElementById("ptz-pose");
  const speed = document.getElementById("ptz-speed");
  // A move carries an ONVIF timeout, so a stop lost on the way ends it anyway; a held
  // move is sent again before the timeout runs out.
  const MOVE_TIMEOUT_S = 5;
  const RESEND_MS = 4000;
  const ACK_MS = 8000;
  const KEYS = {
    ArrowLeft: { pan: -1 }, ArrowRight: { pan: 1 }, ArrowUp: { tilt: 1 }, ArrowDown: { tilt: -1 },
    "+": { zoom: 1 }, "=": { zoom: 1 }, "-": { zoom: -1 },
  };

  let sessionId = panel.dataset.sessionId || null;
  // The camera's session sequence (docs/design/ptz-arbitration.md P6) this page's idea
  // of who controls the camera is at: every take, release, take-over and expiry advances
  // it, and events, statuses and the answers of a take or a release carry it. What is
  // not newer than it is older than what the page knows, and is not applied.
  let sessionSeq = Number(panel.dataset.sessionSeq) || 0;
  // Whether the page has a number (rendered with one, or heard one since).
  let numbered = /^[0-9]+$/.test(panel.dataset.sessionSeq || "");
  // Numbered events and answers taken so far: a status without a number applies only if
  // none came since it was asked (askStatus).
  let numberedHeard = 0;
  // True when `seq` is newer than what the page has (or `strict` false: at least as
  // new). Without one (a node from before P6, during a rolling upgrade) only while the
  // page has no number, as before P6; after, an event is checked by asking the status
  // (the ptz.session handler).
  function current(seq, strict) {
    if (typeof seq !== "number") return !numbered;
    if (strict ? seq <= sessionSeq : seq < sessionSeq) return false;
    heard(seq);
    return true;
  }
  function heard(seq) {
    if (typeof seq !== "number") return;
    sessionSeq = Math.max(sessionSeq, seq);
    numbered = true;
    numberedHeard += 1;
  }
  let held = null; // the move being held: {pan, tilt, zoom}
  let heldKey = null;
  let resend = null;
  let busy = false; // a command is on its way
  let waiting = null; // the next command to send

  function sentence(text) {
    return /[.!?)]$/.test(text) ? text : text + ".";
  }

  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  let poseKnown = false; // a pose was shown (else the connection asks again)
  // Poses shown, counted: a status asked before one of them is older than it (askStatus).
  let posesShown = 0;
  function showPose(pose, moving) {
    if (!pose) return;
    poseKnown = true;
    posesShown += 1;
    poseOut.textContent = "pan " + pose.pan.toFixed(1) + "°, tilt " + pose.tilt.toFixed(1) +
      "°, zoom " + pose.zoom.toFixed(2) + (moving ? " (moving)" : "");
  }

  function holding(id) {
    sessionId = id;
    if (form) form.hidden = !!id;
    if (controls) controls.hidden = !id;
    if (!id) {
      stopHolding(false); // the server stops the camera when a session ends (P5)
      waiting = null;
    }
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok && !data.error) {
      data = { error: { kind: "http", message: response.status + " " + response.statusText } };
    }
    return data;
  }

  // -- commands: one at a time, in order ----------------------------------------------
  // The server may run two Socket.IO events at once; a stop that overtook its continuous
  // move would leave the camera moving. So each command waits for the previous answer,
  // and a newer command replaces one still waiting (the operator's latest intent).
  function send(command) {
    if (!sessionId) return;
    waiting = command;
    pump();
  }

  async function pump() {
    if (busy || !waiting) return;
    const command = waiting;
    waiting = null;
    busy = true;
    try {
      const reply = await deliver(Object.assign({ session_id: sessionId }, command));
      if (reply.error) refused(reply.error);
      else showPose(reply.pose_after, reply.pose_after && reply.pose_after.moving);
    } finally {
      busy = false;
      pump();
    }
  }

  function deliver(body) {
    if (socket && socket.connected) {
      return new Promise((resolve) => {
        socket.timeout(ACK_MS).emit("ptz.command", Object.assign({ camera_id: cameraId }, body),
          (late, reply) => resolve(late
            ? { error: { kind: "timeout", message: "the server did not answer in time" } }
            : reply));
      });
    }
    return api("POST", base + "/ptz", body).catch(
      () => ({ error: { kind: "network", message: "the server could not be reached" } }));
  }

  function refused(error) {
    const lost = error.kind === "timeout" || error.kind === "network";
    say(sentence((lost ? "Command not confirmed: " : "Command refused: ") + error.message));
    // The session is gone (ended, expired, someone else's): control is over here.
    if (["conflict", "not_found", "permission_denied"].includes(error.kind)) holding(null);
  }

  // -- holding a move ---------------------------------------------------------------------
  function velocity() {
    const s = parseFloat(speed.value) || 0.5;
    return {
      op: "continuous", pan: (held.pan || 0) * s, tilt: (held.tilt || 0) * s,
      zoom: (held.zoom || 0) * s, timeout: MOVE_TIMEOUT_S,
    };
  }

  function startHolding(move) {
    if (!sessionId) return;
    say("");
    held = move;
    send(velocity());
    clearInterval(resend);
    resend = setInterval(() => { if (held) send(velocity()); }, RESEND_MS);
  }

  function stopHolding(sendStop) {
    clearInterval(resend);
    resend = null;
    heldKey = null;
    if (!held) return;
    held = null;
    if (sendStop !== false) send({ op: "stop" });
  }

  function moveOf(button) {
    const d = button.dataset;
    return { pan: +(d.pan || 0), tilt: +(d.tilt || 0), zoom: +(d.zoom || 0) };
  }

  document.querySelectorAll("#ptz-controls .ptz-move").forEach((button) => {
    button.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      event.preventDefault(); // no text selection, no focus scroll on touch
      startHolding(moveOf(button));
    });
    for (const end of ["pointerup", "pointerleave", "pointercancel"]) {
      button.addEventListener(end, () => stopHolding());
    }
    button.addEventListener("contextmenu", (event) => event.preventDefault()); // long press
    // Keyboard users: Space or Enter held on the focused button.
    button.addEventListener("keydown", (event) => {
      if ((event.key === " " || event.key === "Enter") && !event.repeat) {
        event.preventDefault();
        startHolding(moveOf(button));
      }
    });
    button.addEventListener("keyup", (event) => {
      if (event.key === " " || event.key === "Enter") stopHolding();
    });
  });

  document.addEventListener("keydown", (event) => {
    const move = KEYS[event.key];
    if (!move || !sessionId || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("input, select, textarea")) return;
    event.preventDefault(); // arrows would scroll the page
    if (event.repeat || heldKey === event.key) return;
    startHolding(move);
    heldKey = event.key;
  });
  document.addEventListener("keyup", (event) => {
    if (event.key === heldKey) stopHolding();
  });
  // A key or button held while the window loses focus never sees its "up".
  window.addEventListener("blur", () => stopHolding());
  document.addEventListener("visibilitychange", () => { if (document.hidden) stopHolding(); });

  document.querySelectorAll("#ptz-controls [data-op='home']").forEach((button) => {
    button.addEventListener("click", () => send({ op: "home" }));
  });
  document.querySelectorAll("#ptz-controls [data-preset]").forEach((button) => {
    button.addEventListener("click", () => send({ op: "goto_preset", preset: button.dataset.preset }));
  });

  // -- the session ------------------------------------------------------------------------
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const submit = form.querySelector('button[type="submit"]');
      const body = { purpose: form.elements.purpose.value };
      const incident = form.elements.incident_number.value.trim();
      if (incident) body.incident_number = incident;
      submit.disabled = true;
      say("");
      try {
        const reply = await api("POST", base + "/ptz/session", body);
        if (reply.error) say(sentence("Control not granted: " + reply.error.message));
        else {
          heard(reply.session_seq);
          holding(reply.session_id);
        }
      } catch (e) {
        say("Control not granted: the server could not be reached.");
      } finally {
        submit.disabled = false;
      }
    });
  }

  const release = document.getElementById("ptz-release");
  if (release) {
    release.addEventListener("click", async () => {
      const id = sessionId;
      holding(null); // before the answer: the ptz.session event may come first
      const reply = await api("DELETE", base + "/ptz/session?session_id=" + encodeURIComponent(id))
        .catch(() => ({ error: { message: "the server could not be reached" } }));
      if (reply.error) say(sentence("Release failed: " + reply.error.message));
      else heard(reply.session_seq);
    });
  }

  // -- what the server tells ----------------------------------------------------------------
  if (!socket) return;
  socket.on("ptz.pose", (msg) => {
    if (msg.camera_id === cameraId) showPose(msg.pose, msg.moving);
  });
  socket.on("ptz.displaced", (msg) => {
    if (msg.camera_id !== cameraId) return;
    if (sessionId && msg.session_id !== sessionId) return;
    holding(null);
    say(sentence(msg.by === "ptz-arbiter"
      ? "Your control of this camera has ended: " + msg.reason
      : "You lost control of this camera to " + msg.by + ": " + msg.reason));
  });
  socket.on("ptz.session", (msg) => {
    if (msg.camera_id !== cameraId) return;
    const c = msg.controller;
    // The ptz room's copy has no session id; the copy to my own room says which it is
    // (same sequence: the first copy applied would hide the other).
    if (c && c.username === me && !c.session_id) return;
    // No number (an old node's event, delivered who knows when): a page that has one
    // asks the status, whose answer decides; applied as it was, an old "nobody in
    // control" ended the control the server still granted.
    if (typeof msg.session_seq !== "number" && numbered) {
      if (sessionId) askStatus(1, "Your control of this camera has ended.");
      return;
    }
    // P6: an event may be older than what the page knows. Released and taken again at
    // once, the release's "nobody in control" came after the new grant's answer, or a
    // status showing it, and the page gave up the control the server had just granted.
    if (!current(msg.session_seq, true) || !sessionId) return;
    if (c && c.session_id === sessionId) return;
    holding(null);
    say(c && c.username === me
      ? "You took control of this camera in another window."
      : "Your control of this camera has ended.");
  });
  // On (re)connection ask where the camera points; a late answer, or one while the pose
  // is not known yet, is asked again (a still camera sends no pose events to wait for).
  // The answer may be older than what the page heard meanwhile: its pose is shown only
  // if no newer one came in between, its controller only if its sequence is not older
  // than the page's (a status served before control was granted here and answered after
  // said nobody controlled the camera). At the same sequence it is applied: a session
  // idle past its expiry is shown as ended before the ptz-expire job ends it (A2).
  // A status without a number applies unless a numbered event or answer came after it
  // was asked.
  function askStatus(tries, ended) {
    const asked = posesShown;
    const heardBefore = numberedHeard;
    socket.timeout(ACK_MS).emit("ptz.status", { camera_id: cameraId }, (late, reply) => {
      if (!late && reply && !reply.error) {
        if (posesShown === asked) showPose(reply.pose, reply.moving);
        const c = reply.controller;
        const applies = typeof reply.session_seq === "number"
          ? current(reply.session_seq, false) : numberedHeard === heardBefore;
        if (applies && sessionId && (!c || c.session_id !== sessionId)) {
          holding(null);
          say(ended);
        }
      }
      if (!poseKnown && tries > 1 && socket.connected) {
        setTimeout(() => askStatus(tries - 1, ended), 2000);
      }
    });
  }
  window.vmsOnConnected(socket, () =>
    askStatus(10, "Your control of this camera ended while the connection was down."));
})();
