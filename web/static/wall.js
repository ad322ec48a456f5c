// The live wall's layout (issue 12.2): 1, 4, 9 or 16 tiles over WebRTC, saved for the
// signed-in user (PUT /api/v1/me/wall-layout), then the wall is drawn again with it.
(function () {
  "use strict";
  const group = document.getElementById("wall-layouts");
  if (!group) return;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  group.querySelectorAll("button[data-layout]").forEach((button) => {
    button.addEventListener("click", async () => {
      if (button.getAttribute("aria-pressed") === "true") return;
      const reply = await fetch(group.dataset.url, {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ layout: parseInt(button.dataset.layout, 10) }),
      });
      if (reply.ok) window.location.reload();
    });
  });
})();
