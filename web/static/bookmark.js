// The media page's bookmark form: "Use the player's position" fills in the instant
// (the item's recorded start plus the player's current time), in UTC.
(function () {
  "use strict";
  const form = document.getElementById("bookmark-form");
  const button = document.getElementById("bookmark-here");
  const player = document.getElementById("player");
  if (!form || !button || !player) return;
  button.addEventListener("click", () => {
    const start = Date.parse(form.dataset.recordedStart);
    if (Number.isNaN(start)) return;
    // A continued segment's player (continued_player.js) starts its timeline at the
    // chain's keyframe: data-origin is where the item's start is on it.
    const offset = player.currentTime - Number(player.dataset.origin || 0);
    const at = new Date(start + Math.round(offset * 1000));
    form.elements.start.value = at.toISOString().replace(".000Z", "Z");
  });
})();
