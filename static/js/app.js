// Behaviour shared by every page. No inline script: the Content-Security-Policy forbids it.
(function () {
  "use strict";

  // The server shows times in the browser's time zone once it knows it (see exastro_mail/i18n).
  function rememberTimeZone() {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (error) {
      return;
    }
    if (!zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) return;
    if (document.cookie.split("; ").indexOf("timezone=" + zone) !== -1) return;
    document.cookie =
      "timezone=" + zone + "; path=/; max-age=31536000; samesite=lax" +
      (location.protocol === "https:" ? "; secure" : "");
  }

  // The words come from the page (data-* of #request-error), in the page's language.
  function showRequestError(key, status) {
    var box = document.getElementById("request-error");
    if (!box) return;
    box.textContent = (box.dataset[key] || "").replace("{status}", String(status));
    box.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showRequestError(status === 400 ? "expired" : "failed", status);
  });

  document.addEventListener("htmx:sendError", function () {
    showRequestError("unreachable", 0);
  });

  // A native <dialog> that htmx fills opens as a modal with focus inside; [data-close-dialog]
  // (a real link to the page behind, for use without JavaScript) closes it. Escape is native.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target;
    if (!dialog || dialog.tagName !== "DIALOG") return;
    if (!dialog.open) dialog.showModal();
    var focus = dialog.querySelector("[data-confirm-word], button[type=submit], [data-close-dialog]");
    if (focus) focus.focus();
  });

  // A link of an error summary puts the cursor in its field, not only the field in view.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.scrollIntoView({ block: "center" });
      field.focus();
    }
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    var dialog = closer && closer.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });

  // An inline check's answer (the field's row) is dropped if the field changed while it was asked, or
  // if the admin is back in it: swapping it in would undo what was typed meanwhile, or replace the input
  // under the cursor halfway through a selection. Its next change asks again.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig;
    var input = config && config.elt;
    if (!input || !input.name || config.verb !== "get" || !input.closest(".field")) return;
    var sent = config.parameters && config.parameters[input.name];
    var changed = sent !== undefined && sent !== input.value;
    if (changed || document.activeElement === input) event.detail.shouldSwap = false;
  });

  // After a failed submit, focus goes to the error summary, whose links lead to each field.
  function focusErrorSummary(root) {
    var summary = root.querySelector("[data-focus-on-load]");
    if (summary) summary.focus();
  }

  // Password inputs get a Show/Hide button (hidden without JavaScript, where it could do nothing).
  function setUpSecretToggles(root) {
    root.querySelectorAll(".toggle-secret[hidden]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("aria-controls"));
      if (!input) return;
      var show = document.body.dataset.showSecret || button.textContent;
      var hide = document.body.dataset.hideSecret || button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        var shown = input.type === "password";
        input.type = shown ? "text" : "password";
        button.setAttribute("aria-pressed", shown ? "true" : "false");
        button.textContent = shown ? hide : show;
      });
    });
  }

  // A table wider than its box scrolls inside it: the box takes focus (keyboard scrolling) and says so.
  function markScrollingTables(root) {
    root.querySelectorAll(".table-scroll").forEach(function (box) {
      var overflowing = box.scrollWidth > box.clientWidth + 1;
      var hint = box.previousElementSibling;
      var hasHint = hint && hint.classList.contains("scroll-hint");
      if (overflowing) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        if (!hasHint) {
          hint = document.createElement("p");
          hint.className = "scroll-hint";
          hint.id = "scroll-hint-" + Math.random().toString(36).slice(2, 8);
          hint.textContent = document.body.dataset.scrollHint || "";
          box.parentNode.insertBefore(hint, box);
        }
        box.setAttribute("aria-labelledby", hint.id);
      } else if (hasHint) {
        hint.remove();
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-labelledby");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary(document);
    setUpSecretToggles(document);
    markScrollingTables(document);
  });
  window.addEventListener("resize", function () { markScrollingTables(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target || document;
    focusErrorSummary(target);
    setUpSecretToggles(target);
    markScrollingTables(document);
  });

  rememberTimeZone();
})();
