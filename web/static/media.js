// Tag editing on the media page (PATCH /api/v1/media/{id}, CSRF header).
(function () {
  "use strict";
  const form = document.getElementById("tag-form");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const status = document.getElementById("tag-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      title: form.title.value,
      case_number: form.case_number.value,
      categories: Array.from(form.categories.selectedOptions).map((o) => o.value),
    };
    status.textContent = "Saving…";
    const response = await fetch("/api/v1/media/" + form.dataset.mediaId, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json();
    status.textContent = response.ok ? "Saved." : (data.error ? data.error.message : "Failed");
    if (response.ok) setTimeout(() => window.location.reload(), 400);
  });
})();
