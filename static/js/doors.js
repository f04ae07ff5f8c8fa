/* Door-to-door: the assignment bar shows only while buildings are ticked, with how many, so it
   never covers the list for nothing. Without script the form simply stays below the list. */
(function () {
  "use strict";

  var bar = document.querySelector("[data-assign-bar]");
  if (!bar) return;
  var ticks = document.querySelectorAll('input[form="' + bar.id + '"][name="units"]');
  var count = bar.querySelector("[data-ticked]");
  var countBox = bar.querySelector("[data-ticked-count]");

  function update() {
    var ticked = 0;
    ticks.forEach(function (tick) {
      if (tick.checked) ticked += 1;
    });
    // A form sent back with an error stays in sight, so the error can be read.
    bar.hidden = ticked === 0 && !bar.hasAttribute("data-has-errors");
    if (count) count.textContent = ticked;
    if (countBox) countBox.hidden = ticked === 0;
  }

  ticks.forEach(function (tick) {
    tick.addEventListener("change", function () {
      bar.removeAttribute("data-has-errors");
      update();
    });
  });
  update();
})();
