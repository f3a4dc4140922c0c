// The academy calendar: a card's details open in the panel beside the grid (htmx); move the
// keyboard's and screen reader's place to the panel's heading, and keep the link working
// without JS (a full page). Escape closes the panel and returns to the card.
(function () {
  "use strict";
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.detail.elt;
    if (link && link.classList && link.classList.contains("cal-link")) {
      opener = link.closest("article");
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "cal-details") {
      var heading = event.detail.target.querySelector(".cal-detail-title");
      if (heading) heading.focus();
    }
  });
  function close(panel) {
    panel.innerHTML = "";
    // the card may have been replaced by a push since: find it again by its id
    var card = opener && document.getElementById(opener.id);
    var link = card && card.querySelector(".cal-link");
    if (link) link.focus();
  }
  document.addEventListener("keydown", function (event) {
    var panel = document.getElementById("cal-details");
    if (event.key === "Escape" && panel && panel.contains(document.activeElement)) close(panel);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".cal-close");
    if (button) close(document.getElementById("cal-details"));
  });
})();
