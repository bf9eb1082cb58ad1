// The Mail sending server settings page: default ports, the authentication rows, the delete dialog,
// and Enter in the test recipient sending the test mail rather than registering the settings.
(function () {
  "use strict";

  function setupForm() {
    var form = document.getElementById("mailserver-form");
    if (!form) return;
    var ports = JSON.parse(form.dataset.defaultPorts || "{}");
    var port = form.querySelector("[name=smtp_port]");
    form.querySelectorAll("[name=encryption]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio.checked && ports[radio.value]) port.value = String(ports[radio.value]);
      });
    });

    var withAuth = form.querySelector("[name=authentication_enable]");
    var rows = document.getElementById("auth-rows");
    function showAuthRows() {
      rows.hidden = !withAuth.checked;
    }
    withAuth.addEventListener("change", showAuthRows);
    showAuthRows();
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
