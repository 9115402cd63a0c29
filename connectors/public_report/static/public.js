"use strict";
// Says "call 17 / 112" at once when someone is in immediate danger, and greys out the
// contact fields when the reporter wants to stay anonymous. The page works without it.
document.addEventListener("DOMContentLoaded", () => {
  const now = document.getElementById("danger-now");
  const yes = document.getElementById("danger-oui");
  const no = document.getElementById("danger-non");
  if (now && yes && no) {
    const show = () => { now.hidden = !yes.checked; };
    yes.addEventListener("change", show);
    no.addEventListener("change", show);
  }
  const anonymous = document.getElementById("anonyme");
  const contact = document.getElementById("coordonnees");
  if (anonymous && contact) {
    const toggle = () => {
      for (const input of contact.querySelectorAll("input")) {
        input.disabled = anonymous.checked;
        if (anonymous.checked) { input.value = ""; }
      }
    };
    anonymous.addEventListener("change", toggle);
  }
});
