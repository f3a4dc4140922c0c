// The account page: a Copy button next to a new calendar address. Without JavaScript (or a
// clipboard) the address sits in a read-only field, to select and copy by hand.
(function () {
  "use strict";
  function init() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var field = document.getElementById(button.dataset.copy);
      var said = document.getElementById(button.dataset.copy + "-said");
      if (!field || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(
          function () { if (said) said.textContent = "Copied. Paste it into your calendar app."; },
          function () {
            field.select();
            if (said) said.textContent = "Copy the selected address by hand.";
          }
        );
      });
    });
    document.querySelectorAll(".feed-url").forEach(function (field) {
      field.addEventListener("focus", function () { field.select(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
