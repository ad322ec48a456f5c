// The redaction review page (issue 16 item 4): the original video with the job's tracks
// drawn over it on a canvas (boxes interpolated at the current time), track toggles
// (PATCH), a hand-drawn keyframed box (mouse or arrow keys; PATCH add), the method and a
// preview of it, and the render (POST) with its progress (polling GET).
(function () {
  "use strict";
  const root = document.getElementById("redaction");
  if (!root) return;
  const api = root.dataset.api;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const video = document.getElementById("redaction-video");
  const canvas = document.getElementById("redaction-overlay");
  const ctx = canvas.getContext("2d");
  const el = (id) => document.getElementById(id);
  const RUNNING = ["queued", "analysing", "render_queued", "rendering"];
  const COLOURS = { face: "#ff3b30", plate: "#ffcc00", person: "#34c759", vehicle: "#0a84ff", screen: "#bf5af2", other: "#ff9f0a" };
  const state = { job: null, draft: null, drag: null, polling: false, heard: [] };

  // -- the API ------------------------------------------------------------------------
  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new Error("the server could not be reached");
    }
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      throw new Error(data && data.error ? data.error.message : response.status + " " + response.statusText);
    }
    return data;
  }

  // -- time and boxes -------------------------------------------------------------------
  const fps = () => (state.job && state.job.video ? state.job.video.fps : 15);
  const frameCount = () => (state.job && state.job.video ? state.job.video.frames : 1);
  const frameAt = (t) => Math.max(0, Math.min(frameCount() - 1, Math.floor(t * fps() + 1e-3)));
  // Step n's time, rounded *up* to 0.1 ms: n / fps rounded down (2 / 15 s to 0.1333 s)
  // fell before the frame starting there, and Chromium showed the frame before it.
  const timeOf = (frame) => Math.ceil((frame / fps()) * 10000 - 1e-6) / 10000;
  // The job's times count from the first frame; the player's clock may not (a file with
  // a camera's running timestamps shows its first frame at 1000 s): jobTime() is the job's
  // time of what the player shows, seek() sets the player by the job's time.
  const start = () => (state.job && state.job.video ? state.job.video.start || 0 : 0);
  const jobTime = () => video.currentTime - start();
  // A time as the reviewer reads it (the time shown under the player): "12.40 s", or
  // "2:05.40" past a minute. Track spans are told in it: step numbers ("frames 0 to
  // 15") meant nothing to a reviewer, and on a variable frame rate were not even frames.
  const clock = (t) => {
    if (t < 60) return t.toFixed(2) + " s";
    const m = Math.floor(t / 60);
    const s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(2);
  };

  // A track's box at time t: its rows are one per frame, [t, x, y, w, h], t the frame's
  // presentation time (a variable frame rate: not index / fps). The player shows at t
  // the last frame starting at or before it, so the box is that frame's row (the one the
  // render burns into it), not one interpolated towards the next frame; after the last
  // row, for as long as the track's frames last (its last interval, or 1 / fps).
  function boxAt(rows, t) {
    if (!rows.length) return null;
    const eps = 1e-3;
    if (t < rows[0][0] - eps) return null;
    let lo = 0, hi = rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (rows[mid][0] <= t + eps) lo = mid; else hi = mid - 1;
    }
    const n = rows.length;
    if (lo === n - 1) {
      const lasts = n > 1 ? rows[n - 1][0] - rows[n - 2][0] : 1 / fps();
      if (t >= rows[n - 1][0] + lasts - eps) return null;
    }
    return rows[lo].slice(1, 5);
  }

  // The hand-drawn box at t: linear between its keyframes, held before the first and
  // after the last (where it is being placed).
  function draftAt(t) {
    const keys = state.draft.keys;
    if (!keys.length) return state.draft.box;
    if (t <= keys[0][0]) return keys[0].slice(1);
    for (let i = 1; i < keys.length; i++) {
      if (t <= keys[i][0]) {
        const a = keys[i - 1], b = keys[i];
        const f = (t - a[0]) / (b[0] - a[0]);
        return [1, 2, 3, 4].map((k) => a[k] + (b[k] - a[k]) * f);
      }
    }
    return keys[keys.length - 1].slice(1);
  }

  // -- drawing -------------------------------------------------------------------------
  function paintRegion(box, method) {
    const W = canvas.width, H = canvas.height;
    const x = Math.max(0, Math.floor(box[0])), y = Math.max(0, Math.floor(box[1]));
    const w = Math.min(W, Math.ceil(box[0] + box[2])) - x, h = Math.min(H, Math.ceil(box[1] + box[3])) - y;
    if (w <= 0 || h <= 0) return;
    if (method === "solid" || video.readyState < 2) {
      ctx.fillStyle = "#000";
      ctx.fillRect(x, y, w, h);
      return;
    }
    const cells = 8;
    const scale = cells / Math.max(1, Math.min(w, h));
    const sw = Math.max(1, Math.round(w * scale)), sh = Math.max(1, Math.round(h * scale));
    const small = document.createElement("canvas");
    small.width = sw; small.height = sh;
    const sctx = small.getContext("2d");
    sctx.drawImage(video, x, y, w, h, 0, 0, sw, sh);
    ctx.save();
    ctx.imageSmoothingEnabled = method !== "pixelate";
    if (method === "blur") ctx.filter = "blur(" + Math.max(1, Math.round(Math.min(w, h) / 16)) + "px)";
    ctx.beginPath(); ctx.rect(x, y, w, h); ctx.clip();
    ctx.drawImage(small, 0, 0, sw, sh, x, y, w, h);
    ctx.restore();
  }

  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!state.job) return;
    const t = jobTime();
    const preview = el("preview").checked;
    const method = el("method").value;
    ctx.lineWidth = Math.max(2, canvas.width / 320);
    ctx.font = Math.max(10, Math.round(canvas.width / 40)) + "px sans-serif";
    for (const track of state.job.tracks) {
      const box = boxAt(track.frames, t);
      if (!box) continue;
      if (preview && track.enabled) { paintRegion(box, method); continue; }
      ctx.setLineDash(track.enabled ? [] : [6, 4]);
      ctx.strokeStyle = track.enabled ? COLOURS[track.class] || "#fff" : "#aaa";
      ctx.strokeRect(box[0], box[1], box[2], box[3]);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(track.id + " " + track.class + (track.enabled ? "" : " (off)"), box[0] + 2, Math.max(10, box[1] - 3));
    }
    ctx.setLineDash([]);
    if (state.draft && state.draft.box) {
      const box = state.draft.keys.length && !state.drag ? draftAt(t) : state.draft.box;
      if (preview) paintRegion(box, method);
      ctx.setLineDash([4, 3]);
      ctx.strokeStyle = "#00e5ff";
      ctx.strokeRect(box[0], box[1], box[2], box[3]);
      ctx.setLineDash([]);
      ctx.fillStyle = "#00e5ff";
      ctx.fillRect(box[0] + box[2] - 5, box[1] + box[3] - 5, 10, 10); // the resize handle
    }
  }

  function loop() {
    draw();
    if (!video.paused && !video.ended) requestAnimationFrame(loop);
  }

  function showTime() {
    const t = jobTime();
    el("time").textContent = t.toFixed(2) + " s · frame " + frameAt(t);
    if (document.activeElement !== el("position")) el("position").value = t;
  }

  // -- the job on the page ------------------------------------------------------------
  function render(job) {
    state.job = job;
    if (job.video) {
      canvas.width = job.video.width;
      canvas.height = job.video.height;
      const position = el("position");
      // The last step's own time: (frames - 1) / fps may lie below frames - 1 steps of
      // 1 / fps by a rounding error, and the slider then stopped a step short of it.
      position.max = String(timeOf(job.video.frames - 1));
      position.step = String(1 / job.video.fps);
    }
    el("redaction-state").textContent = job.state.replace("_", " ");
    el("redaction-progress").value = job.progress;
    el("redaction-percent").textContent = Math.round(job.progress * 100) + " %";
    const error = el("redaction-error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
    const editable = job.state === "review";
    el("method").value = job.method;
    for (const id of ["method", "manual-place", "manual-key", "manual-save", "manual-discard", "manual-class", "render"]) {
      el(id).disabled = !editable;
    }
    const list = el("tracks");
    // Rebuilt below: a keyboard user keeps the focus on the track they were on.
    const focused = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.dataset.trackId : null;
    list.textContent = "";
    for (const track of job.tracks) {
      const li = document.createElement("li");
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = track.enabled;
      box.disabled = !editable;
      box.dataset.trackId = track.id;
      box.addEventListener("change", () => toggle(track, box));
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = COLOURS[track.class] || "#888";
      const first = track.frames.length ? track.frames[0][0] : 0;
      const last = track.frames.length ? track.frames[track.frames.length - 1][0] : 0;
      label.append(box, swatch, document.createTextNode(
        " Track " + track.id + ": " + track.class + (track.manual ? " (drawn by hand)" : " (detected)") +
        ", " + clock(first) + " to " + clock(last)));
      li.append(label);
      if (track.manual && editable) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", "Remove track " + track.id);
        remove.addEventListener("click", () => edit({ remove: [track.id] }, "Track " + track.id + " removed."));
        li.append(remove);
      }
      list.append(li);
    }
    if (focused) {
      const again = list.querySelector('input[data-track-id="' + focused + '"]');
      if (again) again.focus();
    }
    if (!job.tracks.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = RUNNING.includes(job.state) ? "The analysis is running…" : "No tracks.";
      list.append(li);
    }
    if (job.rendered) {
      el("rendered").hidden = false;
      el("rendered-link").href = root.dataset.mediaUrl.replace("MEDIA_ID", encodeURIComponent(job.rendered));
      el("render-status").textContent = "Rendered.";
    } else if (job.state === "render_queued" || job.state === "rendering") {
      el("render-status").textContent = "Rendering… " + Math.round(job.progress * 100) + " %";
    } else if (job.state === "failed") {
      el("render-status").textContent = "Failed: " + (job.error || "");
    }
    draw();
    if (RUNNING.includes(job.state)) poll();
  }

  // Answers can come back out of order: a poll or a progress read sent before an edit and
  // answered after it, or sent just after it but served before the edit was stored (the
  // order the page sends in is not the order the server stores in). The job's updated_at,
  // later at every change (privacy_masks/redaction_values.py, stamped_after), orders
  // them: an answer older than the job shown is not drawn. Of answers with one stamp
  // (progress does not move it), the one sent last is.
  let sent = 0;
  let shown = { at: "", ticket: 0 };
  // "2026-12-07T01:17:58Z" and "...58.25Z" made comparable as text (microseconds).
  const stamp = (iso) => {
    const m = /^(.*?)(?:\.(\d+))?Z$/.exec(iso || "");
    return m ? m[1] + "." + (m[2] || "").padEnd(6, "0") : "";
  };
  async function fetchJob(method, body) {
    const ticket = ++sent;
    const job = await call(method, api, body);
    const at = stamp(job.updated_at);
    if (at > shown.at || (at === shown.at && ticket > shown.ticket)) {
      shown = { at, ticket };
      render(job);
    }
    return state.job;
  }

  function poll() {
    if (state.polling) return;
    state.polling = true;
    setTimeout(async () => {
      state.polling = false;
      try {
        await fetchJob("GET");
      } catch (e) {
        el("render-status").textContent = "Could not read the job: " + e.message;
        poll();
      }
    }, 1000);
  }

  async function edit(body, done) {
    const status = el("tracks-status");
    status.textContent = "Saving…";
    try {
      await fetchJob("PATCH", body);
      status.textContent = done;
      return true;
    } catch (e) {
      status.textContent = "Not saved: " + e.message;
      render(state.job);
      return false;
    }
  }

  function toggle(track, box) {
    edit({ tracks: [{ id: track.id, enabled: box.checked }] },
      "Track " + track.id + (box.checked ? " enabled." : " disabled."));
  }

  el("method").addEventListener("change", () => edit({ method: el("method").value }, "Method: " + el("method").value + "."));
  el("preview").addEventListener("change", draw);

  // -- the player ----------------------------------------------------------------------
  // Never past the last step: the job's fps puts it at the last frame's time (a frame
  // lasting less than half a step, as a variable rate's last often does, was cut off by
  // a bound of duration - 0.5 / fps).
  function seek(t) {
    video.pause();
    video.currentTime = start() + Math.max(0, Math.min(t, timeOf(frameCount() - 1)));
  }
  el("play").addEventListener("click", () => (video.paused ? video.play() : video.pause()));
  el("frame-back").addEventListener("click", () => seek(timeOf(frameAt(jobTime()) - 1)));
  el("frame-forward").addEventListener("click", () => seek(timeOf(frameAt(jobTime()) + 1)));
  el("second-forward").addEventListener("click", () => seek(timeOf(frameAt(jobTime()) + Math.round(fps()))));
  // A slider position is a step: sought at the step's time (its raw n * (1 / fps) may
  // fall a hair before the frame, showing the one before).
  el("position").addEventListener("input", () => seek(timeOf(frameAt(Number(el("position").value)))));
  video.addEventListener("play", () => { el("play").textContent = "Pause"; loop(); });
  video.addEventListener("pause", () => { el("play").textContent = "Play"; draw(); });
  for (const name of ["seeked", "timeupdate", "loadeddata"]) {
    video.addEventListener(name, () => { showTime(); draw(); });
  }

  // -- the hand-drawn box --------------------------------------------------------------
  const manualStatus = (text) => { el("manual-status").textContent = text; };

  function clampBox(b) {
    const W = canvas.width, H = canvas.height;
    const w = Math.max(4, Math.min(W, b[2])), h = Math.max(4, Math.min(H, b[3]));
    return [Math.max(0, Math.min(W - w, b[0])), Math.max(0, Math.min(H - h, b[1])), w, h].map((v) => Math.round(v));
  }

  function setKey() {
    // The box at the current frame becomes that frame's keyframe (replacing one there).
    const t = timeOf(frameAt(jobTime()));
    const keys = state.draft.keys.filter((k) => Math.abs(k[0] - t) > 1e-6);
    keys.push([t, ...state.draft.box]);
    keys.sort((a, b) => a[0] - b[0]);
    state.draft.keys = keys;
    showKeys();
  }

  function showKeys() {
    const list = el("manual-keys");
    list.textContent = "";
    for (const k of state.draft ? state.draft.keys : []) {
      const li = document.createElement("li");
      li.textContent = "frame " + frameAt(k[0]) + " (" + k[0].toFixed(2) + " s): x " + k[1] + ", y " + k[2] + ", w " + k[3] + ", h " + k[4];
      list.append(li);
    }
  }

  function placeBox(box) {
    video.pause();
    if (!state.draft) state.draft = { keys: [], box: null };
    state.draft.box = clampBox(box);
    setKey();
    draw();
  }

  el("manual-place").addEventListener("click", () => {
    const W = canvas.width, H = canvas.height;
    const box = state.draft && state.draft.box ? draftAt(jobTime()) : [W / 2 - W / 10, H / 2 - H / 10, W / 5, H / 5];
    placeBox(box);
    manualStatus("Box placed at frame " + frameAt(jobTime()) + ": move it with the arrow keys on the video.");
    canvas.focus();
  });
  el("manual-key").addEventListener("click", () => {
    if (!state.draft || !state.draft.box) { manualStatus("Place a box first."); return; }
    state.draft.box = clampBox(draftAt(jobTime()));
    setKey();
    manualStatus("Keyframe at frame " + frameAt(jobTime()) + ".");
    draw();
  });
  el("manual-discard").addEventListener("click", () => {
    state.draft = null;
    showKeys();
    manualStatus("Box discarded.");
    draw();
  });
  el("manual-save").addEventListener("click", async () => {
    if (!state.draft || !state.draft.keys.length) { manualStatus("Place a box first."); return; }
    const body = { add: [{ class: el("manual-class").value, keyframes: state.draft.keys }] };
    manualStatus("Saving…");
    try {
      await fetchJob("PATCH", body);
      const added = state.job.tracks.filter((t) => t.manual).pop();
      state.draft = null;
      showKeys();
      manualStatus("Saved as track " + (added ? added.id : "") + ".");
    } catch (e) {
      manualStatus("Not saved: " + e.message);
    }
  });

  canvas.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const move = moves[event.key];
    if (!move) {
      if (event.key === " ") { event.preventDefault(); el("play").click(); }
      return;
    }
    event.preventDefault();
    if (!state.draft || !state.draft.box) { manualStatus("Press \"Place a box\" first."); return; }
    const step = event.altKey ? 1 : Math.max(2, Math.round(canvas.width / 80));
    const b = draftAt(jobTime()).slice();
    if (event.shiftKey) { b[2] += move[0] * step; b[3] += move[1] * step; }
    else { b[0] += move[0] * step; b[1] += move[1] * step; }
    placeBox(b);
    const now = state.draft.box;
    manualStatus("Box at x " + now[0] + ", y " + now[1] + ", w " + now[2] + ", h " + now[3] + " (frame " + frameAt(jobTime()) + ").");
  });

  function pointer(event) {
    const r = canvas.getBoundingClientRect();
    return [(event.clientX - r.left) * (canvas.width / r.width), (event.clientY - r.top) * (canvas.height / r.height)];
  }
  canvas.addEventListener("mousedown", (event) => {
    if (!state.job || state.job.state !== "review") return;
    video.pause();
    const [x, y] = pointer(event);
    const box = state.draft && state.draft.box ? draftAt(jobTime()) : null;
    if (box && x >= box[0] && y >= box[1] && x <= box[0] + box[2] && y <= box[1] + box[3]) {
      const corner = x > box[0] + box[2] - 10 && y > box[1] + box[3] - 10;
      state.drag = { kind: corner ? "resize" : "move", x, y, box };
    } else {
      state.drag = { kind: "draw", x, y, box: [x, y, 1, 1] };
      if (!state.draft) state.draft = { keys: [], box: null };
    }
  });
  canvas.addEventListener("mousemove", (event) => {
    const d = state.drag;
    if (!d) return;
    const [x, y] = pointer(event);
    let b;
    if (d.kind === "move") b = [d.box[0] + x - d.x, d.box[1] + y - d.y, d.box[2], d.box[3]];
    else if (d.kind === "resize") b = [d.box[0], d.box[1], d.box[2] + x - d.x, d.box[3] + y - d.y];
    else b = [Math.min(x, d.x), Math.min(y, d.y), Math.abs(x - d.x), Math.abs(y - d.y)];
    state.draft.box = clampBox(b);
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (!state.drag) return;
    state.drag = null;
    if (state.draft && state.draft.box) {
      setKey();
      manualStatus("Keyframe at frame " + frameAt(jobTime()) + ".");
    }
    draw();
  });

  // -- render --------------------------------------------------------------------------
  el("render").addEventListener("click", async () => {
    el("render-status").textContent = "Queuing the render…";
    try {
      await call("POST", api + "/render");
      await fetchJob("GET");
    } catch (e) {
      el("render-status").textContent = "Not rendered: " + e.message;
    }
  });

  // -- the privacy flag of the original (ACC-11, REL-3) --------------------------------
  const privacy = el("privacy-form");
  if (privacy) {
    privacy.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = el("privacy-status");
      status.textContent = "Saving…";
      try {
        await call("PUT", root.dataset.privacyApi, { privacy_sensitive: true, reason: privacy.elements.reason.value });
        status.textContent = "The original is flagged privacy-sensitive: it is released only redacted (REL-3).";
      } catch (e) {
        status.textContent = "Not flagged: " + e.message;
      }
    });
  }

  // Progress over Socket.IO (``redaction.progress``, sent to the job's creator): shown at
  // once; a new state reads the job again. Others (and a lost socket) rely on polling.
  if (window.vmsSocket) {
    window.vmsSocket.on("redaction.progress", (msg) => {
      if (!state.job || msg.id !== state.job.id) return;
      state.heard.push(msg.state + ":" + msg.progress);
      el("redaction-progress").value = msg.progress;
      el("redaction-percent").textContent = Math.round(msg.progress * 100) + " %";
      if (msg.state !== state.job.state) fetchJob("GET").catch(() => poll());
    });
  }

  // For tests and the curious: the page's state.
  window.vmsRedaction = { state, video, canvas, boxAt, reload: () => fetchJob("GET") };
  fetchJob("GET").catch((e) => { el("tracks-status").textContent = "Could not read the job: " + e.message; });
})();
