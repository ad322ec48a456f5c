// The live wall's layout (issue 12.2): 1, 4, 9 or 16 tiles over WebRTC, saved for the
// signed-in user (PUT /api/v1/me/wall-layout), then the wall is drawn again with it.
(function () {
  "use strict";
  const group = document.getElementById("wall-layouts");
  if (!group) return;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  // One layout saved at a time: two clicked before the first was saved sent two PUTs,
  // which could cross on the server (the wall reloaded with one and kept the other).
  // The buttons are off while a layout is on its way; saved, the wall reloads.
  const buttons = group.querySelectorAll("button[data-layout]");
  const enable = (on) => buttons.forEach((b) => { b.disabled = !on; });
  buttons.forEach((button) => {
    button.addEventListener("click", async () => {
      if (button.disabled || button.getAttribute("aria-pressed") === "true") return;
      enable(false);
      let reply = null;
      try {
        reply = await fetch(group.dataset.url, {
          method: "PUT",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify({ layout: parseInt(button.dataset.layout, 10) }),
        });
      } finally {
        if (!reply || !reply.ok) enable(true);
      }
      if (reply.ok) window.location.reload();
    });
  });
})();
