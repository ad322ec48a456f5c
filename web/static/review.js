// The review page: one lane per chosen source on a timeline of the window, and up to four
// videos driven by ONE clock (a wall-clock instant). Each video shows what its source
// recorded at the clock's instant: a fixed camera through its HLS playlist (the
// fragments' EXT-X-PROGRAM-DATE-TIME map wall clock to playlist time), a body-worn or
// dash recording through its content URL (recorded start + offset). The clock waits while
// a video that has something to show is loading or seeking, and a video that drifts more
// than DRIFT seconds from the clock is re-seeked. window.vmsReview exposes the clock and
// the players (tests, console).
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const startMs = Date.parse(data.start);
  const endMs = Date.parse(data.end);
  const span = endMs - startMs;
  const sources = data.sources.filter(function (s) { return s.selected; });
  const statusBox = document.getElementById("review-status");
  const clockOut = document.getElementById("review-clock");
  const stateOut = document.getElementById("review-state");
  const playButton = document.getElementById("review-play");

  const DRIFT = 0.3; // seconds a video may drift from the clock before it is re-seeked
  const TICK_MS = 100;
  const MAX_WAIT_MS = 5000; // a video loading longer than this no longer holds the clock
  const END_SLACK = 0.1; // seconds: the last frames of a file count as its end

  function problem(text) {
    statusBox.textContent = text;
    statusBox.hidden = !text;
  }

  // A passing message in the page's toast (base.html).
  function say(text) {
    const toast = document.getElementById("toast");
    if (!toast) return;
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { toast.hidden = true; }, 6000);
  }

  function iso(ms) {
    return new Date(ms).toISOString();
  }

  function clamp(ms) {
    return Math.min(endMs, Math.max(startMs, ms));
  }

  function apiMessage(text, fallback) {
    try {
      return JSON.parse(text).error.message;
    } catch (_e) {
      return fallback;
    }
  }

  // -- the clock ---------------------------------------------------------------------
  const clock = { anchor: startMs, at: performance.now(), playing: false, last: startMs };

  function now() {
    if (!clock.playing) return clock.anchor;
    return clamp(clock.anchor + (performance.now() - clock.at));
  }

  function setClock(ms) {
    clock.anchor = clamp(ms);
    clock.at = performance.now();
    clock.last = clock.anchor;
  }

  // -- players -----------------------------------------------------------------------
  const playersBox = document.getElementById("review-players");

  function makePlayer(source) {
    const figure = document.createElement("figure");
    figure.className = "review-player";
    figure.dataset.source = source.kind + ":" + source.id;
    const caption = document.createElement("figcaption");
    const name = document.createElement("strong");
    name.textContent = source.name;
    caption.appendChild(name);
    const detail = source.kind === "camera" ? source.location : source.officer_label;
    if (detail) caption.appendChild(document.createTextNode(" · " + detail));
    if (source.kind === "item") caption.appendChild(document.createTextNode(" · " + source.title));
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.preload = "auto";
    const note = document.createElement("p");
    note.className = "review-note";
    note.hidden = true;
    figure.append(video, note, caption);
    playersBox.appendChild(figure);

    const player = {
      source: source,
      video: video,
      hls: null,
      failed: null, // why this player cannot play, or null
      waitingSince: null,
      pending: false, // the clock was moved: seek exactly at the next chance
      resyncs: 0, // drift corrections while playing
      note: function (text) {
        note.textContent = text || "";
        note.hidden = !text;
      },
    };
    const first = source.spans.length ? Date.parse(source.spans[0].start) : null;

    if (!source.playable) {
      player.failed = source.refusal || "not permitted";
      player.note("Not played: " + player.failed);
      return player;
    }
    if (source.kind === "camera") {
      if (!window.Hls || !window.Hls.isSupported()) {
        player.failed = "this browser cannot play HLS video";
        player.note(player.failed);
        return player;
      }
      const hls = new window.Hls({ enableWorker: false, autoStartLoad: true });
      player.hls = hls;
      hls.on(window.Hls.Events.ERROR, function (_e, d) {
        if (!d.fatal) return;
        const xhr = d.networkDetails;
        const text = xhr && typeof xhr.responseText === "string" ? xhr.responseText : "";
        player.failed = apiMessage(text, "playback failed (" + d.details + ")");
        player.note(player.failed);
      });
      const query = new URLSearchParams({ start: data.start, end: data.end });
      if (root.dataset.purpose) query.set("purpose", root.dataset.purpose); // ACC-4
      hls.loadSource(
        "/api/v1/cameras/" + encodeURIComponent(source.id) + "/playback.m3u8?" + query
      );
      hls.attachMedia(video);
      const fragments = function () {
        const level = hls.levels && hls.levels[Math.max(hls.currentLevel, 0)];
        return (level && level.details && level.details.fragments) || [];
      };
      player.ready = function () { return fragments().length > 0 && video.readyState >= 1; };
      // Playlist time of a wall-clock instant, or null where nothing was recorded.
      player.localTime = function (ms) {
        for (const f of fragments()) {
          if (f.programDateTime === null) continue;
          if (ms < f.programDateTime) return null;
          if (ms < f.programDateTime + f.duration * 1000) {
            return f.start + (ms - f.programDateTime) / 1000;
          }
        }
        return null;
      };
      // Wall-clock instant shown at playlist time t, or null.
      player.wallTime = function (t) {
        for (const f of fragments()) {
          if (f.programDateTime !== null && t >= f.start && t < f.start + f.duration) {
            return f.programDateTime + (t - f.start) * 1000;
          }
        }
        return null;
      };
    } else {
      video.src = "/api/v1/media/" + encodeURIComponent(source.id) + "/content" +
        (root.dataset.purpose ? "?purpose=" + encodeURIComponent(root.dataset.purpose) : "");
      video.addEventListener("error", function () {
        player.failed = "the recording could not be played";
        player.note(player.failed);
      });
      const last = Date.parse(source.spans[0].end);
      player.ready = function () { return video.readyState >= 1; };
      player.localTime = function (ms) {
        if (ms < first || ms >= last) return null;
        return (ms - first) / 1000;
      };
      player.wallTime = function (t) { return first + t * 1000; };
    }
    if (!source.spans.length) player.note("Nothing recorded in this window.");
    return player;
  }

  const players = sources.map(makePlayer);

  // Whether the player has a picture to show at ``local`` (not past its file's end).
  function inRange(player, local) {
    if (local === null) return false;
    const d = player.video.duration;
    return !(Number.isFinite(d) && local >= d - END_SLACK);
  }

  function sync(player, t, force) {
    if (player.failed) return false;
    const video = player.video;
    if (!player.ready()) {
      player.note("Loading…");
      return true; // waits for it
    }
    const local = player.localTime(t);
    if (!inRange(player, local)) {
      if (!video.paused) video.pause();
      player.note("No recording at this instant.");
      player.waitingSince = null;
      return false;
    }
    player.note("");
    if (force) player.pending = true; // a seek of the clock: exact, once the video may seek
    if (!video.seeking && (player.pending || Math.abs(video.currentTime - local) > DRIFT)) {
      if (!player.pending) player.resyncs += 1;
      player.pending = false;
      video.currentTime = local;
    }
    if (clock.playing && video.paused) {
      video.play().catch(function () { /* a later tick retries */ });
    } else if (!clock.playing && !video.paused) {
      video.pause();
    }
    return video.seeking || video.readyState < 3;
  }

  function tick(force) {
    let t = now();
    const perf = performance.now();
    let waiting = false;
    for (const player of players) {
      const busy = sync(player, t, force);
      if (!busy) {
        player.waitingSince = null;
        continue;
      }
      if (player.waitingSince === null) player.waitingSince = perf;
      if (perf - player.waitingSince < MAX_WAIT_MS) waiting = true;
    }
    if (clock.playing && waiting) {
      setClock(clock.last); // hold the clock while a video catches up
      t = clock.last;
    }
    clock.last = t;
    if (clock.playing && t >= endMs) pause();
    clockOut.textContent = window.vmsTime.format(t, true); // the agency's clock
    stateOut.textContent = clock.playing ? (waiting ? "loading…" : "playing") : "paused";
    moveCursors(t);
  }

  function play() {
    if (now() >= endMs) setClock(startMs);
    setClock(now());
    clock.playing = true;
    if (playButton) playButton.textContent = "Pause";
    tick(false);
  }

  function pause() {
    setClock(now());
    clock.playing = false;
    if (playButton) playButton.textContent = "Play";
    for (const player of players) if (!player.video.paused) player.video.pause();
  }

  function seek(ms) {
    setClock(ms);
    tick(true);
  }

  // No Play button when nothing chosen plays for this user (the page leaves it out).
  if (playButton) {
    playButton.addEventListener("click", function () {
      if (clock.playing) pause();
      else play();
    });
  }

  // -- the timeline ------------------------------------------------------------------
  const lanesBox = document.getElementById("review-lanes");
  const axis = document.getElementById("review-axis");
  const tracks = [];

  function frac(ms) {
    return Math.min(1, Math.max(0, (ms - startMs) / span));
  }

  function place(el, from, to) {
    el.style.left = (frac(from) * 100).toFixed(4) + "%";
    if (to !== undefined) {
      el.style.width = Math.max(0.15, (frac(to) - frac(from)) * 100).toFixed(4) + "%";
    }
  }

  function block(cls, from, to, title) {
    const el = document.createElement("div");
    el.className = cls;
    place(el, from, to);
    if (title) el.title = title;
    return el;
  }

  function makeTrack(label) {
    const lane = document.createElement("div");
    lane.className = "review-lane";
    const name = document.createElement("div");
    name.className = "review-lane-label";
    name.textContent = label;
    const track = document.createElement("div");
    track.className = "review-track";
    const cursor = document.createElement("div");
    cursor.className = "review-cursor";
    track.appendChild(cursor);
    track.addEventListener("click", function (event) {
      const rect = track.getBoundingClientRect();
      seek(startMs + ((event.clientX - rect.left) / rect.width) * span);
    });
    lane.append(name, track);
    tracks.push(cursor);
    return { lane: lane, track: track };
  }

  function moveCursors(t) {
    for (const cursor of tracks) place(cursor, t);
  }

  // The axis: the window's start, end and three times between, on the agency's clock
  // (its zone names the axis; static/agency_time.js).
  const startText = window.vmsTime.format(startMs);
  const axisRow = makeTrack(startText.slice(startText.lastIndexOf(" ") + 1));
  axisRow.lane.classList.add("review-axis-row");
  for (let i = 0; i <= 4; i += 1) {
    const at = startMs + (span * i) / 4;
    const tickEl = block("review-tick", at);
    // Tenths of a second where the window is short enough for them to matter.
    const text = window.vmsTime.format(at, span < 60000);
    tickEl.textContent = text.slice(11, text.lastIndexOf(" "));
    if (i === 0) tickEl.classList.add("first");
    if (i === 4) tickEl.classList.add("last");
    axisRow.track.appendChild(tickEl);
  }
  axis.appendChild(axisRow.lane);

  const laneTracks = {};
  for (const source of sources) {
    const label = source.kind === "camera" ? source.name : source.name + " · " + source.title;
    const row = makeTrack(label);
    row.lane.dataset.source = source.kind + ":" + source.id;
    for (const s of source.spans) {
      row.track.appendChild(
        block("review-span", Date.parse(s.start), Date.parse(s.end), "recorded " + s.start + " – " + s.end)
      );
    }
    for (const g of source.interruptions) {
      const to = g.end ? Date.parse(g.end) : endMs;
      const title = "recording interrupted: " + g.cause + (g.detail ? " (" + g.detail + ")" : "");
      row.track.appendChild(block("review-interruption", Date.parse(g.start), to, title));
    }
    // Device markers of an item (OPS-3): mute, deactivation and their ends, with reasons.
    for (const m of source.markers || []) {
      const title = m.kind + " " + m.at + (m.reason ? ": " + m.reason : "");
      row.track.appendChild(block("review-device-marker " + m.kind, Date.parse(m.at), undefined, title));
    }
    laneTracks[row.lane.dataset.source] = row.track;
    lanesBox.appendChild(row.lane);
  }

  // -- bookmarks ---------------------------------------------------------------------
  // A lane's reads can be answered out of order: the one sent as the page opened (slow,
  // under load) came back after the one sent once a new bookmark was stored, and drew
  // the lane without it. A read follows every bookmark's answer, so the last one sent
  // knows every bookmark stored here: an answer to an older read than the one drawn is
  // not drawn.
  const laneReads = {}; // lane -> { sent, drawn }: numbers of its reads
  function loadBookmarks(source) {
    if (root.dataset.readBookmarks !== "1") return Promise.resolve();
    const key = source.kind + ":" + source.id;
    const reads = laneReads[key] || (laneReads[key] = { sent: 0, drawn: 0 });
    const ticket = ++reads.sent;
    const query = new URLSearchParams({ start: data.start, end: data.end });
    query.set(source.kind === "camera" ? "camera" : "media_id", source.id);
    return fetch("/api/v1/bookmarks?" + query, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { bookmarks: [] }; })
      .then(function (body) {
        if (ticket < reads.drawn) return;
        reads.drawn = ticket;
        const track = laneTracks[key];
        for (const old of track.querySelectorAll(".review-mark")) old.remove();
        for (const b of body.bookmarks) {
          const from = Date.parse(b.start);
          const el = block("review-mark", from, b.end ? Date.parse(b.end) : undefined,
            b.label + " (" + b.author + ", " + b.start + ")");
          el.dataset.bookmark = b.id;
          el.setAttribute("aria-label", "Bookmark: " + b.label);
          track.appendChild(el);
        }
      });
  }

  const bookmarkForm = document.getElementById("review-bookmark");
  if (bookmarkForm) {
    // One bookmark at a time: a double click (or Enter) before the answer came back sent
    // the form again and stored the instant twice. The button is off while one is sent.
    const bookmarkButton = bookmarkForm.querySelector('button[type="submit"]');
    let bookmarking = false;
    bookmarkForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (bookmarking) return;
      const key = document.getElementById("review-bookmark-source").value;
      const source = sources.find(function (s) { return s.kind + ":" + s.id === key; });
      const body = {
        start: iso(now()),
        label: document.getElementById("review-bookmark-label").value.trim(),
      };
      body[source.kind === "camera" ? "camera_id" : "media_id"] = source.id;
      const number = document.getElementById("review-bookmark-case").value.trim();
      if (number) body.case_number = number;
      bookmarking = true;
      bookmarkButton.disabled = true;
      fetch("/api/v1/bookmarks", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      })
        .then(function (r) {
          return r.text().then(function (text) {
            if (!r.ok) throw new Error(apiMessage(text, "the bookmark was not saved (" + r.status + ")"));
            return JSON.parse(text);
          });
        })
        .then(function (saved) {
          problem("");
          document.getElementById("review-bookmark-label").value = "";
          say("Bookmark saved at " + saved.start);
          return loadBookmarks(source);
        })
        .catch(function (err) { problem(err.message); })
        .finally(function () {
          bookmarking = false;
          bookmarkButton.disabled = false;
        });
    });
  }

  // -- export (issue 15.4: shown only where the server takes export jobs) -------------
  const exportEvents = []; // export.progress messages heard over the socket (tests)
  const exportForm = document.getElementById("review-export");
  if (exportForm) {
    const state = document.getElementById("review-export-state");
    const bar = state.querySelector("progress");
    const text = state.querySelector("span");
    const show = function (value, words) {
      state.hidden = false;
      bar.value = value;
      text.textContent = words;
    };
    // Progress: the creator's socket hears ``export.progress`` where the jobs role runs
    // in this process; polling GET /api/v1/exports/{id} covers the rest (a separate jobs
    // process) and reads the final state.
    let current = null;
    let finished = false;
    let drawn = null; // the current job's state last drawn
    const render = function (job) {
      if (finished) return;
      // A poll's answer, late, came after the event that said the job went on and drew
      // it back (queued again, a lower percentage): never behind what is drawn.
      if (window.vmsJobProgress.behind(drawn, job)) return;
      drawn = { state: job.state, progress: job.progress };
      if (job.state === "done") {
        finished = true;
        show(1, "Done. ");
        const link = document.createElement("a");
        link.id = "review-export-download";
        link.href = "/api/v1/exports/" + encodeURIComponent(job.id) + "/package";
        link.textContent = "Download the package";
        text.appendChild(link);
      } else if (job.state === "failed") {
        finished = true;
        show(job.progress || 0, "Export failed: " + (job.error || "unknown error"));
      } else {
        show(job.progress || 0, job.state + "… " + Math.round((job.progress || 0) * 100) + " %");
      }
    };
    const poll = function (id) {
      if (finished || id !== current) return;
      fetch("/api/v1/exports/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          render(job);
          if (!finished) setTimeout(function () { poll(id); }, 2000);
        })
        .catch(function () { setTimeout(function () { poll(id); }, 3000); });
    };
    if (window.vmsSocket) {
      window.vmsSocket.on("export.progress", function (msg) {
        if (msg.id !== current) return;
        exportEvents.push(msg.state + ":" + msg.progress);
        render(msg);
      });
    }
    // One export request at a time, each job followed by one poll: a double click sent
    // the form twice, the server answered both with the job it filed (a repeat) and the
    // page polled that job twice as often. The button is off while the request is out.
    const exportButton = exportForm.querySelector('button[type="submit"]');
    let exporting = false;
    exportForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (exporting) return;
      const body = {
        purpose: document.getElementById("review-export-purpose").value.trim(),
        sources: sources.map(function (s) {
          if (s.kind === "camera") return { camera_id: s.id, start: data.start, end: data.end };
          const from = Math.max(startMs, Date.parse(s.spans[0].start));
          const to = Math.min(endMs, Date.parse(s.spans[0].end));
          return { media_id: s.id, start: iso(from), end: iso(to) };
        }),
        cut: "keyframe",
        include_audit: false,
      };
      const number = document.getElementById("review-export-case").value.trim();
      if (number) body.case_number = number;
      exporting = true;
      exportButton.disabled = true;
      fetch("/api/v1/exports", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      })
        .then(function (r) {
          return r.text().then(function (t) {
            // No such route (the exports API is not installed): not an export's refusal.
            if (r.status === 405 || (r.status === 404 && t.includes("requested URL was not found"))) {
              exportForm.hidden = true; // this server takes no export jobs
              return null;
            }
            if (!r.ok) throw new Error(apiMessage(t, "the export was refused (" + r.status + ")"));
            return JSON.parse(t);
          });
        })
        .then(function (job) {
          if (!job) return;
          if (job.id === current) { render(job); return; } // already followed
          current = job.id;
          finished = false;
          drawn = null;
          state.dataset.export = job.id;
          render(job);
          poll(job.id);
        })
        .catch(function (err) { show(0, err.message); })
        .finally(function () {
          exporting = false;
          exportButton.disabled = false;
        });
    });
  }

  // Keyboard: the timeline moves the clock by 1 s (Shift: 10 s) with the arrow keys.
  const timeline = document.getElementById("review-timeline");
  timeline.tabIndex = 0;
  timeline.addEventListener("keydown", function (event) {
    const step = event.shiftKey ? 10000 : 1000;
    if (event.key === "ArrowRight") seek(now() + step);
    else if (event.key === "ArrowLeft") seek(now() - step);
    else if (event.key === " " && playButton) (clock.playing ? pause : play)();
    else return;
    event.preventDefault();
  });

  for (const source of sources) loadBookmarks(source);
  setInterval(function () { tick(false); }, TICK_MS);
  seek(startMs);
  window.vmsReview = {
    now: now,
    seek: seek,
    play: play,
    pause: pause,
    players: players,
    playing: function () { return clock.playing; },
    // Each player's wall-clock instant (ms), or null where it shows nothing at the
    // clock's instant (not playable, loading, or nothing recorded then).
    shown: function () {
      const t = now();
      return players.map(function (p) {
        if (p.failed || !p.ready() || !inRange(p, p.localTime(t))) return null;
        return p.wallTime(p.video.currentTime);
      });
    },
    loadBookmarks: loadBookmarks,
    exportEvents: exportEvents,
  };
})();
