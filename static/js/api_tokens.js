// The API tokens page: the revoke dialog (opened by htmx) and copying a new token.
(function () {
  "use strict";

  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target;
    if (!dialog || dialog.id !== "revoke-dialog") return;
    if (!dialog.open) dialog.showModal();
    var button = dialog.querySelector("button[type=submit], [data-close-dialog]");
    if (button) button.focus();
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    var dialog = closer && closer.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
      return;
    }
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
