// Courtside browser client. Pages work without it; with it, actions swap only the affected
// fragments (htmx) and confirmations use the button's own words.
(function () {
  "use strict";

  // Cancel buttons carry data-confirm; the form they submit is shared, so ask per button.
  document.addEventListener("htmx:confirm", function (evt) {
    var trigger = evt.detail.triggeringEvent;
    var button = trigger && trigger.submitter;
    if (!button || !button.dataset.confirm) return;
    evt.preventDefault();
    if (window.confirm(button.dataset.confirm)) evt.detail.issueRequest(true);
  });
})();
