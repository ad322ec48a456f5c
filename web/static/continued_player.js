// The media page's player for a recorder segment continued without a keyframe (its file
// alone does not decode): hls.js plays the camera playback playlist of the segment's span,
// which starts at the chain's keyframe, and the player starts at the segment's first frame
// (its EXT-X-PROGRAM-DATE-TIME). window.vmsContinued exposes it (tests, console).
(function () {
  "use strict";
  const video = document.getElementById("player");
  if (!video || !video.dataset.playlist) return;
  const notice = document.getElementById("continued-notice");

  function problem(text) {
    if (notice) notice.append(" " + text);
  }

  if (!window.Hls || !window.Hls.isSupported()) {
    problem("This browser cannot play it here (HLS): use camera playback.");
    return;
  }
  const start = Date.parse(video.dataset.start);
  // No worker: CSP allows scripts from 'self' only, and hls.js builds its worker from a blob.
  const hls = new window.Hls({ enableWorker: false });
  const state = { hls: hls, video: video, ready: false };

  function startTime() {
    const level = hls.levels && hls.levels[Math.max(hls.currentLevel, 0)];
    const fragments = (level && level.details && level.details.fragments) || [];
    for (const f of fragments) {
      if (f.programDateTime === null) continue;
      if (start < f.programDateTime + f.duration * 1000) {
        return f.start + Math.max(0, start - f.programDateTime) / 1000;
      }
    }
    return 0;
  }

  hls.on(window.Hls.Events.LEVEL_LOADED, function () {
    if (state.ready) return;
    const origin = startTime();
    // Where the item's start is on this timeline (it starts at the chain's keyframe):
    // the bookmark form and the markers' seek buttons measure from it.
    video.dataset.origin = String(origin);
    state.ready = true;
    video.currentTime = origin;
  });
  hls.on(window.Hls.Events.ERROR, function (_event, data) {
    if (data.fatal) problem("Playback failed (" + data.details + ").");
  });
  hls.loadSource(video.dataset.playlist);
  hls.attachMedia(video);
  window.vmsContinued = state;
})();
