/* Companion's one small app script. Everything works without it; it only smooths the edges. */
(function () {
  "use strict";

  // Pre-fill the time zone from the browser on the invitation page (the patient still confirms it).
  function detectTimezone() {
    var select = document.querySelector("select[data-detect-timezone]");
    if (!select || select.dataset.touched) return;
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) { select.value = zone; return; }
    }
  }

  document.addEventListener("DOMContentLoaded", detectTimezone);
})();
