// Who else is looking at this page's main stream (realtime/presence.py). Staff and coaches get
// names and roles; everyone else gets a count. The server sends both kinds of summary; this
// only renders what this page was sent, leaving the viewer out ("who else").
(function () {
  "use strict";

  var line = document.getElementById("presence");
  if (!line) return;
  var place = null;       // {k, place, names} from the socket's ready message
  var me = null;          // {u, tag}
  var version = 0;
  var sentAway = false;
  var awayTimer = null;
  var AWAY_AFTER = 1500;  // a quick tab switch is not "away"; and at most ~1 update per 6 s

  function show(text) {
    line.textContent = text;
    line.hidden = !text;
  }

  function label(person) {
    return person.name + " (" + person.role + (person.away ? ", away" : "") + ")";
  }

  function joined(names) {
    if (names.length < 2) return names.join("");
    return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
  }

  function render(msg) {
    var others = Math.max(0, msg.n - 1);  // this viewer is one of them, once however many tabs
    if (!others) return show("");
    if (msg.who) {
      var names = msg.who.filter(function (p) { return p.u !== me.u; }).map(label);
      var rest = others - names.length;
      if (rest > 0) names.push(rest + (rest === 1 ? " other" : " others"));
      var verb = others === 1 ? " is " : " are ";
      return show(joined(names) + verb + "also viewing " + place.place + ".");
    }
    show(others + (others === 1 ? " other person is" : " other people are") +
         " looking at " + place.place + ".");
  }

  document.addEventListener("courtside:ready", function (event) {
    me = event.detail.you;
    place = event.detail.presence || null;
    version = 0;
    if (!place) show("");
    sentAway = false;
    if (document.hidden) tellAway();
  });

  document.addEventListener("courtside:presence", function (event) {
    var msg = event.detail;
    if (!place || msg.k !== place.k || msg.v <= version) return;
    version = msg.v;
    render(msg);
  });

  document.addEventListener("courtside:down", function () { show(""); });

  function tellAway() {
    clearTimeout(awayTimer);
    awayTimer = setTimeout(function () {
      var away = document.hidden;
      if (!place || away === sentAway) return;
      if (window.courtsideLive && window.courtsideLive.send({ t: "presence", away: away })) {
        sentAway = away;
      }
    }, AWAY_AFTER);
  }

  document.addEventListener("visibilitychange", tellAway);
})();
