// The Microsoft 365 and Google Workspace helpers of the settings page: they only fill fields, and
// every field stays editable afterwards.
(function () {
  "use strict";

  var M365_SCOPE = "https://outlook.office365.com/.default";
  var GRAPH_SCOPE = "https://graph.microsoft.com/.default";

  function setValue(form, name, value) {
    var input = form.querySelector('[name="' + name + '"]');
    if (input) input.value = value;
  }

  function choose(form, name, value) {
    var radio = form.querySelector('[name="' + name + '"][value="' + value + '"]');
    if (radio && !radio.checked) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function withAuthentication(form, method) {
    var flag = form.querySelector("[name=authentication_enable]");
    if (flag && !flag.checked) {
      flag.checked = true;
      flag.dispatchEvent(new Event("change", { bubbles: true }));
    }
    choose(form, "authentication_method", method);
  }

  function smtpWithStartTls(form, host) {
    if (!form.querySelector("[name=transport][value=microsoft_graph]:checked")) {
      setValue(form, "smtp_host", host);
      choose(form, "encryption", "starttls");
      setValue(form, "smtp_port", "587");
    }
  }

  function fillMicrosoft365(form, tenant) {
    withAuthentication(form, "oauth2_client_credentials");
    var graph = !!form.querySelector("[name=transport][value=microsoft_graph]:checked");
    setValue(form, "oauth2_token_url",
      "https://login.microsoftonline.com/" + encodeURIComponent(tenant) + "/oauth2/v2.0/token");
    setValue(form, "oauth2_scope", graph ? GRAPH_SCOPE : M365_SCOPE);
    smtpWithStartTls(form, "smtp.office365.com");
  }

  function fillGoogleWorkspace(form) {
    withAuthentication(form, "oauth2_service_account");
    choose(form, "transport", "smtp");
    smtpWithStartTls(form, "smtp.gmail.com");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("mailserver-form");
    var helpers = document.getElementById("provider-helpers");
    if (!form || !helpers) return;
    helpers.hidden = false;
    var tenant = document.getElementById("m365-tenant");
    tenant.addEventListener("input", function () {
      var value = tenant.value.trim();
      if (value) fillMicrosoft365(form, value);
    });
    document.getElementById("fill-google-workspace").addEventListener("click", function () {
      fillGoogleWorkspace(form);
    });
    // Microsoft Graph takes a token for Graph: switching the sending method switches the usual scope.
    form.querySelectorAll("[name=transport]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        var scope = form.querySelector("[name=oauth2_scope]");
        if (!radio.checked || !scope) return;
        if (radio.value === "microsoft_graph" && scope.value === M365_SCOPE) scope.value = GRAPH_SCOPE;
        if (radio.value === "smtp" && scope.value === GRAPH_SCOPE) scope.value = M365_SCOPE;
      });
    });
  });
})();
