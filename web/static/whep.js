// WebRTC live picture over WHEP (RFC 9725), our own client (no CDN, CSP 'self').
// For each <video data-whep>: offer to receive H.264 (non-trickle: the offer is sent once
// ICE gathering is complete), POST it as application/sdp, play the answer's track; DELETE
// the session's Location when the page goes away. When WebRTC is missing, the browser
// cannot decode H.264, the server refuses, or no frame arrives in time, the picture falls
// back to the masked MJPEG stream (the <img data-fallback-stream> next to it), and the
// page says so.
(function () {
  "use strict";
  const GATHER_MS = 3000;   // at most this long for ICE gathering (host candidates: ms)
  const FIRST_FRAME_MS = 10000;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  // The camera page has one picture (#live-video, its mode in #live-mode and on the
  // body); the wall one per tile (its mode in the tile's [data-role=mode]).
  function tileOf(video) { return video.closest("[data-camera-id]"); }

  function say(video, mode, text) {
    video.dataset.mode = mode;
    const tile = video.id === "live-video" ? null : tileOf(video);
    if (!tile) {
      document.body.dataset.video = mode;
      const note = document.getElementById("live-mode");
      if (note) note.textContent = text;
      return;
    }
    const note = tile.querySelector('[data-role="mode"]');
    if (note) note.textContent = text;
  }

  function h264Supported() {
    if (!window.RTCPeerConnection || !window.RTCRtpReceiver) return false;
    const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
    return !!caps && caps.codecs.some((c) => c.mimeType.toLowerCase() === "video/h264");
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_MS);
    });
  }

  function start(video) {
    const img = video.parentElement.querySelector("img[data-fallback-stream]");
    let pc = null;
    let location = null;
    let fellBack = false;

    function end() {
      if (location) {
        fetch(location, { method: "DELETE", keepalive: true, credentials: "same-origin",
                          headers: { "X-CSRF-Token": csrf } }).catch(() => {});
        location = null;
      }
      if (pc) { pc.close(); pc = null; }
    }

    function fallback(reason) {
      if (fellBack) return;
      fellBack = true;
      end();
      video.hidden = true;
      say(video, "mjpeg", "MJPEG (WebRTC unavailable: " + reason + ")");
      if (img) {
        img.hidden = false;
        img.dataset.stream = img.dataset.fallbackStream;
        if (window.vmsStream) window.vmsStream(img); else img.src = img.dataset.stream;
      }
    }

    if (!h264Supported()) { fallback("this browser cannot receive H.264 over WebRTC"); return; }
    let ice = [];
    try { ice = JSON.parse(video.dataset.iceServers || "[]"); } catch (e) { ice = []; }

    async function connect() {
      pc = new RTCPeerConnection({ iceServers: ice });
      video.whepPeer = pc;  // for getStats (tests, diagnostics)
      const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
      const h264 = RTCRtpReceiver.getCapabilities("video").codecs.filter(
        (c) => ["video/h264", "video/rtx"].includes(c.mimeType.toLowerCase()));
      if (transceiver.setCodecPreferences) transceiver.setCodecPreferences(h264);
      pc.addEventListener("track", (event) => {
        video.srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      pc.addEventListener("connectionstatechange", () => {
          if (pc && pc.connectionState === "failed") fallback("the connection failed");
      });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const reply = await fetch(video.dataset.whep, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/sdp", "X-CSRF-Token": csrf },
        body: pc.localDescription.sdp,
      });
      if (reply.status !== 201) {
        let reason = "the server answered " + reply.status;
        try { reason = (await reply.json()).error.message || reason; } catch (e) { /* not JSON */ }
        throw new Error(reason);
      }
      location = reply.headers.get("Location");
      await pc.setRemoteDescription({ type: "answer", sdp: await reply.text() });
    }

    say(video, "connecting", "Connecting (WebRTC)…");
    const timer = setTimeout(() => fallback("no picture within "
                                            + FIRST_FRAME_MS / 1000 + " s"), FIRST_FRAME_MS);
    video.addEventListener("playing", () => {
      if (fellBack) return;
      clearTimeout(timer);
      say(video, "webrtc", "WebRTC");
    }, { once: true });
    connect().catch((e) => { clearTimeout(timer); fallback(e.message || String(e)); });
    window.addEventListener("pagehide", end);
  }

  document.querySelectorAll("video[data-whep]").forEach(start);
})();
