// A job's state as the pages show it (exports: the review and case pages), from its
// events over the socket and from polls: the two can arrive out of order (a poll's answer,
// late, after the event that said the job went on), so a page draws a state only if it is
// not behind the one drawn for the same job. States have an order; within one state the
// progress only grows.
(function () {
  "use strict";
  const ORDER = { queued: 0, running: 1, done: 2, failed: 2 };
  window.vmsJobProgress = {
    // Whether `job` ({state, progress}) may be drawn over `shown` (the same job's state
    // last drawn, or null).
    behind: function (shown, job) {
      if (!shown) return false;
      const was = ORDER[shown.state] || 0;
      const now = ORDER[job.state] || 0;
      if (now !== was) return now < was;
      return (job.progress || 0) < (shown.progress || 0);
    },
  };
})();
