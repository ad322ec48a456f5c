// Tag editing on the media page (PATCH /api/v1/media/{id}, CSRF header).
(function () {
  "use strict";
  const form = document.getElementById("tag-form");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const status = document.getElementById("tag-status");
  const button = form.querySelector('button[type="submit"]');
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      title: form.elements.title.value,
      case_number: form.elements.case_number.value,
      categories: Array.from(form.querySelectorAll('input[name="categories"]:checked'), (i) => i.value),
    };
    status.textContent = "Saving…";
    button.disabled = true;
    try {
      const response = await fetch("/api/v1/media/" + form.dataset.mediaId, {
        method: "PATCH",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      if (response.ok) {
        status.textContent = "Saved.";
        setTimeout(() => window.location.reload(), 400);
        return;
      }
      let message = response.status + " " + response.statusText;
      try {
        const data = await response.json();
        if (data.error) message = data.error.message;
      } catch (e) { /* not JSON: keep the status line */ }
      status.textContent = "Not saved: " + message;
    } catch (e) {
      status.textContent = "Not saved: the server could not be reached.";
    } finally {
      button.disabled = false;
    }
  });
})();

// Device markers (OPS-3): a marker's time in the table seeks the player there.
(function () {
  "use strict";
  const player = document.getElementById("player");
  if (!player) return;
  document.querySelectorAll("button.seek").forEach((button) => {
    button.addEventListener("click", () => {
      // data-origin: the item's start on a continued segment's player (continued_player.js).
      const origin = Number(player.dataset.origin || 0);
      player.currentTime = origin + Math.max(0, Number(button.dataset.offset));
      player.play().catch(() => {});
    });
  });
})();
