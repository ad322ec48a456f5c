// A session that expired (or was signed out elsewhere) while a page was open: the first
// request of the page's scripts that the API answers 401 sends the user to sign in and
// back to this page (ACC-1), as a page load does (web/pages/blueprint.py page_error),
// instead of each script showing the API's refusal as its result. Loaded in the head
// of every signed-in page, before the page's own scripts take window.fetch.
(function () {
  "use strict";
  const original = window.fetch;
  if (typeof original !== "function") return;
  let leaving = false;
  function signIn() {
    if (leaving) return;
    leaving = true;
    const back = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(back));
  }
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      let sameOrigin = false;
      try {
        sameOrigin = new URL(response.url).origin === window.location.origin;
      } catch (e) { /* an opaque answer: not ours */ }
      if (response.status === 401 && sameOrigin) signIn();
      return response;
    });
  };
})();
