// The API tokens page: copying a new token.
(function () {
  "use strict";

  // The revoke dialog opens and closes through app.js.
  document.addEventListener("click", function (event) {
    var copy = event.target.closest && event.target.closest("[data-copy-from]");
    if (copy) {
      var input = document.getElementById(copy.dataset.copyFrom);
      input.select();
      navigator.clipboard.writeText(input.value).then(function () {
        copy.textContent = copy.dataset.copiedText;
      });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    // Copying needs the Clipboard API (a secure context); without it the field can still be selected.
    if (!navigator.clipboard) return;
    document.querySelectorAll("[data-copy-from]").forEach(function (button) {
      button.hidden = false;
    });
  });
})();
