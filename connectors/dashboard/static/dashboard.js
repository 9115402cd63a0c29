// Progressive enhancement of the operators' dashboard: the pages work without JavaScript
// (forms post and redirect); with it, sections refresh themselves and re-drives stay in place.
(function () {
  "use strict";
  var POLL_MS = 5000;        // how often /api/etat is asked whether something changed
  var FULL_REFRESH_MS = 30000; // redraw anyway: "late by" grows with the clock
  var live = document.getElementById("direct");
  var announce = document.getElementById("annonce");
  var lastVersion = null;
  var lastCounts = null;
  var lastDraw = Date.now();
  var busy = false;

  function say(text) {
    if (!announce) { return; }
    announce.textContent = "";
    window.setTimeout(function () { announce.textContent = text; }, 50);
  }

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element && text) { element.textContent = text; }
  }

  function toLogin() {
    window.location.assign("/connexion?suivant=" + encodeURIComponent(window.location.pathname));
  }

  var LABELS = {
    overdue: "demandes en retard",
    holds: "messages retenus",
    orphans: "besoins orphelins",
    dead_letters: "lettres mortes"
  };

  function describeChanges(before, after) {
    if (!before) { return ""; }
    var parts = [];
    Object.keys(LABELS).forEach(function (key) {
      if (before[key] !== after[key]) {
        parts.push(LABELS[key] + " : " + after[key]);
      }
    });
    return parts.join(", ");
  }

  function redraw(reason) {
    if (!live || busy) { return Promise.resolve(); }
    busy = true;
    return fetch(live.dataset.fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (answer) {
        if (answer.status === 401) { toLogin(); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var focused = document.activeElement && document.activeElement.id;
        live.innerHTML = html;
        bindRedrives(live);
        if (focused) {
          var again = document.getElementById(focused);
          if (again) { again.focus(); }
        }
        lastDraw = Date.now();
        var clock = new Date().toLocaleTimeString("fr-FR", { timeZone: "Europe/Paris" });
        live.dataset.updated = clock;
        if (reason) { say("Mis à jour à " + clock + ". " + reason); }
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { busy = false; });
  }

  function poll() {
    if (!live) { return; }
    fetch(live.dataset.status, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) {
        if (answer.status === 401) { toLogin(); return null; }
        return answer.ok ? answer.json() : null;
      })
      .then(function (state) {
        if (!state) { return; }
        setText("heure-hub", state.now_text);
        setText("donnees-lues", state.updated_text);
        var changed = lastVersion !== null && state.version !== lastVersion;
        var reason = describeChanges(lastCounts, state.counts);
        lastVersion = state.version;
        lastCounts = state.counts;
        if (changed || Date.now() - lastDraw > FULL_REFRESH_MS) {
          return redraw(reason);
        }
      })
      .catch(function () { /* the next poll tries again */ });
  }

  function bindRedrives(root) {
    var forms = root.querySelectorAll("form.js-relance");
    Array.prototype.forEach.call(forms, function (form) {
      if (form.dataset.bound) { return; }
      form.dataset.bound = "1";
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = form.querySelector("button");
        if (button) { button.disabled = true; button.textContent = "Relance…"; }
        fetch(form.action, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(new FormData(form)).toString()
        })
          .then(function (answer) {
            if (answer.status === 401) { toLogin(); return null; }
            return answer.json().then(function (body) { return { ok: answer.ok, body: body }; });
          })
          .then(function (result) {
            if (!result) { return; }
            if (result.ok) {
              var row = form.closest("tr");
              if (row) { row.parentNode.removeChild(row); }
              say(result.body.message || "Lettre morte relancée.");
              redraw("");
            } else {
              if (button) { button.disabled = false; button.textContent = "Relancer"; }
              say((result.body && (result.body.message || result.body.detail)) || "La relance a échoué.");
            }
          })
          .catch(function () {
            if (button) { button.disabled = false; button.textContent = "Relancer"; }
            say("La relance a échoué : le tableau de bord ne répond pas.");
          });
      });
    });
  }

  bindRedrives(document);
  if (live) {
    poll();
    window.setInterval(poll, POLL_MS);
  }
})();
