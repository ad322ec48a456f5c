// The playback page: hls.js plays the camera's playlist across segments; the wall-clock
// time of the picture comes from the segments' EXT-X-PROGRAM-DATE-TIME, and "Go to"
// seeks to a wall-clock instant. window.vmsPlayback exposes the mapping (tests, console).
(function () {
  "use strict";
  const root = document.getElementById("playback");
  if (!root) return;
  const video = document.getElementById("playback-video");
  const clock = document.getElementById("playback-clock");
  const status = document.getElementById("playback-status");
  const seekForm = document.getElementById("playback-seek");

  function problem(text) {
    status.textContent = text;
    status.hidden = false;
  }

  if (!window.Hls) {
    problem("The player is not installed on this server (scripts/install-web-assets.sh).");
    return;
  }
  if (!window.Hls.isSupported()) {
    problem("This browser cannot play HLS video (Media Source Extensions are missing).");
    return;
  }
  // No worker: CSP allows scripts from 'self' only, and hls.js builds its worker from a blob.
  const hls = new window.Hls({ enableWorker: false });

  function fragments() {
    const level = hls.levels && hls.levels[Math.max(hls.currentLevel, 0)];
    return (level && level.details && level.details.fragments) || [];
  }

  // The playlist time (seconds) of a wall-clock instant (ms since the epoch); an instant in
  // a gap maps to the next recorded one; null when outside the playlist.
  function timeOf(ms) {
    for (const f of fragments()) {
      if (f.programDateTime === null) continue;
      if (ms < f.programDateTime) return f.start;
      if (ms < f.programDateTime + f.duration * 1000) {
        return f.start + (ms - f.programDateTime) / 1000;
      }
    }
    return null;
  }

  // The wall-clock instant (ms) shown at playlist time t, or null.
  function dateAt(t) {
    for (const f of fragments()) {
      if (f.programDateTime !== null && t >= f.start && t < f.start + f.duration) {
        return f.programDateTime + (t - f.start) * 1000;
      }
    }
    return null;
  }

  function seekTo(text) {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      problem("Not a time: " + text + " (use ISO 8601, e.g. 2026-11-01T14:05:30Z).");
      return null;
    }
    const t = timeOf(ms);
    if (t === null) {
      problem("Nothing was recorded at or after " + window.vmsTime.format(ms) + " in this window.");
      return null;
    }
    status.hidden = true;
    video.currentTime = t;
    return t;
  }

  hls.on(window.Hls.Events.ERROR, function (_event, data) {
    if (!data.fatal) return;
    let text = "Playback failed (" + data.details + ").";
    const xhr = data.networkDetails;
    if (xhr && typeof xhr.responseText === "string") {
      try {
        text = JSON.parse(xhr.responseText).error.message;
      } catch (_e) { /* not our JSON: keep the generic text */ }
    }
    problem(text);
  });
  video.addEventListener("timeupdate", function () {
    const ms = dateAt(video.currentTime);
    clock.textContent = ms === null ? "–" : window.vmsTime.format(ms, true); // the agency's
  });
  seekForm.addEventListener("submit", function (event) {
    event.preventDefault();
    seekTo(document.getElementById("playback-at").value.trim());
  });

  // Part of the window that does not decode (a chain of segments without a keyframe not
  // followed back to it): the server says why (X-Playback-Notice).
  hls.on(window.Hls.Events.MANIFEST_LOADED, function (_event, data) {
    const xhr = data.networkDetails;
    const notice = xhr && xhr.getResponseHeader && xhr.getResponseHeader("X-Playback-Notice");
    if (notice) problem(notice[0].toUpperCase() + notice.slice(1) + ".");
  });
  hls.loadSource(root.dataset.playlist);
  hls.attachMedia(video);
  window.vmsPlayback = { hls: hls, video: video, timeOf: timeOf, dateAt: dateAt, seekTo: seekTo };
})();
