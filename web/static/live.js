// Live announcements over Socket.IO (new media in the catalog). The page's one socket
// is window.vmsSocket, for the scripts of pages that listen or send more (live view, PTZ).
(function () {
  "use strict";
  if (typeof io === "undefined") return;
  const socket = io({ transports: ["websocket", "polling"] });
  window.vmsSocket = socket;
  const toast = document.getElementById("toast");
  const dot = document.getElementById("live-status");
  function state(connected) {
    document.body.dataset.live = connected ? "connected" : "disconnected";
    if (dot) dot.title = connected ? "Live updates on" : "Live updates off: reconnecting…";
  }
  function show(text) {
    if (!toast) return;
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(show.timer);
    show.timer = setTimeout(() => { toast.hidden = true; }, 6000);
  }
  socket.on("connect", () => state(true));
  socket.on("disconnect", () => state(false));
  socket.on("media.new", (msg) => {
    show("New " + msg.source + " media from " + msg.device_id);
    const banner = document.getElementById("new-media");
    if (banner) banner.hidden = false;
    document.dispatchEvent(new CustomEvent("vms:media-new", { detail: msg }));
  });
})();
