// Live announcements over Socket.IO (new media in the catalog). The page's one socket
// is window.vmsSocket, for the scripts of pages that listen or send more (live view, PTZ).
(function () {
  "use strict";
  // Runs fn on each (re)connection of socket, and now if it is connected already. A page
  // script that reads (or asks) on "connect" uses this, never a "connect" handler of its own:
  // the socket is opened here, before the page's own scripts, and a script that came
  // later than the connection (a loaded server) missed its first "connect" and never
  // made its first read (the PTZ pose, the open alarms, the cameras' health).
  window.vmsOnConnected = function (socket, fn) {
    socket.on("connect", fn);
    if (socket.connected) fn();
  };
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
  window.vmsOnConnected(socket, () => state(true));
  socket.on("disconnect", () => state(false));
  socket.on("media.new", (msg) => {
    show("New " + msg.source + " media from " + msg.device_id);
    const banner = document.getElementById("new-media");
    if (banner) banner.hidden = false;
    document.dispatchEvent(new CustomEvent("vms:media-new", { detail: msg }));
  });
})();
