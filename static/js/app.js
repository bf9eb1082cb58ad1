// Behaviour shared by every page. No inline script: the Content-Security-Policy forbids it.
(function () {
  "use strict";

  function showRequestError(text) {
    var box = document.getElementById("request-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showRequestError(
      status === 400
        ? "The page has expired. Reload it and try again."
        : "The request failed (" + status + "). Reload the page and try again."
    );
  });

  document.addEventListener("htmx:sendError", function () {
    showRequestError("The server could not be reached. Check your connection and try again.");
  });
})();
