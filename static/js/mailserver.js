// The Mail sending server settings page: default ports, the rows each choice uses, the delete dialog,
// and Enter in the test recipient sending the test mail rather than registering the settings.
(function () {
  "use strict";

  function setupForm() {
    var form = document.getElementById("mailserver-form");
    if (!form) return;
    var ports = JSON.parse(form.dataset.defaultPorts || "{}");
    // A port the admin typed (8025) stays; only a blank or one of the usual ports follows the method.
    var usual = Object.keys(ports).map(function (key) { return String(ports[key]); });
    form.querySelectorAll("[name=encryption]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        var port = form.querySelector("[name=smtp_port]"); // the inline check may have replaced its row
        var current = port.value.trim();
        var replaceable = current === "" || usual.indexOf(current) >= 0;
        if (radio.checked && ports[radio.value] && replaceable) port.value = String(ports[radio.value]);
      });
    });

    // Rows used only for some values (data-shown-when: [[field, values], ...], values [] for a checkbox).
    var runs = form.querySelectorAll("[data-shown-when]");
    function holds(condition) {
      var inputs = form.querySelectorAll('[name="' + condition[0] + '"]');
      return Array.prototype.some.call(inputs, function (input) {
        return input.checked && (condition[1].length === 0 || condition[1].indexOf(input.value) >= 0);
      });
    }
    function showRows() {
      runs.forEach(function (run) {
        run.hidden = !JSON.parse(run.dataset.shownWhen).every(holds);
      });
    }
    form.addEventListener("change", showRows);
    showRows();
  }

  function updateConfirmButtons(root) {
    root.querySelectorAll("[data-confirm-word]").forEach(function (input) {
      var button = input.form.querySelector("[data-confirm-button]");
      if (button) button.disabled = input.value !== input.dataset.confirmWord;
    });
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-confirm-word]")) {
      updateConfirmButtons(event.target.form);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !event.target.matches || !event.target.matches("[name=test_recipient]")) return;
    var button = document.getElementById("send-test-mail");
    if (!button) return;
    event.preventDefault();
    if (!button.disabled) button.click();
  });

  // A refused test mail (429: too many) still shows its message in place of the result.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 429 && target && target.id === "test-mail-result") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The dialog itself opens, takes focus and closes through app.js.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target;
    if (dialog && dialog.tagName === "DIALOG") updateConfirmButtons(dialog);
  });

  document.addEventListener("DOMContentLoaded", function () {
    setupForm();
    updateConfirmButtons(document);
  });
})();
