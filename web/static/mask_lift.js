// The camera page's privacy-mask panel (admins): lift one mask for a stated reason and a
// bounded time (POST /api/v1/cameras/{id}/mask-lifts), or end a running lift now
// (DELETE .../mask-lifts/{lift_id}); PSCS-1 exceptions, audited by the server.
(function () {
  "use strict";
  const panel = document.getElementById("mask-lifts");
  if (!panel) return;
  const camera = panel.dataset.camera;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const notice = document.getElementById("lift-notice");
  const list = document.getElementById("running-lifts");
  const base = "/api/v1/cameras/" + encodeURIComponent(camera) + "/mask-lifts";

  async function call(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      notice.textContent = (data.error && data.error.message) || (response.status + " " + response.statusText);
      notice.hidden = false;
      return null;
    }
    notice.hidden = true;
    return data;
  }

  function item(l) {
    const li = document.createElement("li");
    const until = window.vmsTime.format(l.ends_at); // the agency's clock, with its zone
    li.append("\u201c" + l.mask_name + "\u201d until " + until + " (" + l.reason + ") ");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button secondary";
    button.dataset.endLift = l.id;
    button.textContent = "End now";
    // Which lift it ends, for a screen reader going through the buttons of the page.
    button.setAttribute("aria-label", "End the lift of \u201c" + l.mask_name + "\u201d now");
    li.appendChild(button);
    return li;
  }

  // Reads can be answered out of order: the one after a new lift, answered late, came
  // back after the one that followed ending another lift and listed that lift as running
  // again. A read follows every change's answer, so the last one sent knows them all:
  // an answer to an older read than the one drawn is not drawn.
  let sent = 0;
  let drawn = 0;
  async function reload() {
    const ticket = ++sent;
    const data = await call("GET", base + "?running=true");
    if (data && ticket > drawn) {
      drawn = ticket;
      list.replaceChildren(...data.lifts.map(item));
    }
    if (window.vmsRefreshLifts) window.vmsRefreshLifts();
  }

  // One request a button at a time: a double click on "Lift mask" or "End now" sent a
  // second one before the first answer came back; the server refused it (the mask
  // already lifted, the lift already ended) and the read that followed hid the refusal.
  // The button is off while its request is on its way.
  async function once(button, send) {
    if (button.disabled) return;
    button.disabled = true;
    try { await send(); } finally { button.disabled = false; }
  }

  const form = document.getElementById("lift-form");
  if (form) {
    const lift = form.querySelector('button[type="submit"]');
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      once(lift, async () => {
        const f = new FormData(form);
        const made = await call("POST", base, {
          mask_id: f.get("mask_id"), reason: f.get("reason"), minutes: Number(f.get("minutes")),
        });
        if (made) { form.reset(); reload(); }
      });
    });
  }
  list.addEventListener("click", (event) => {
    const id = event.target.dataset && event.target.dataset.endLift;
    if (!id) return;
    once(event.target, async () => {
      if (await call("DELETE", base + "/" + encodeURIComponent(id))) reload();
    });
  });
})();
