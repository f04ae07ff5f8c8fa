// The activity form, a little quicker on a phone; the form works the same without this.
// - Choosing a type sets the nature to the type's usual one (flood patrol: duty).
// - Moving the start moves the end with it, keeping the length (two hours when there is none).
(function () {
  "use strict";
  var form = document.querySelector("form.xc-activity-form");
  var natureData = document.getElementById("type-natures");
  if (!form) return;
  var type = form.querySelector("#id_type");
  var nature = form.querySelector("#id_nature");
  var starts = form.querySelector("#id_starts_at");
  var ends = form.querySelector("#id_ends_at");
  var natures = natureData ? JSON.parse(natureData.textContent) : {};

  if (type && nature) {
    type.addEventListener("change", function () {
      if (natures[type.value]) nature.value = natures[type.value];
    });
  }

  // datetime-local values are local wall-clock times "YYYY-MM-DDTHH:MM"; compute on them as if
  // they were UTC, so no time zone or daylight-saving shift creeps in.
  function parse(value) {
    var ms = Date.parse(value + ":00Z");
    return isNaN(ms) ? null : ms;
  }
  function format(ms) {
    return new Date(ms).toISOString().slice(0, 16);
  }
  var TWO_HOURS = 2 * 60 * 60 * 1000;
  if (starts && ends) {
    var previousStart = parse(starts.value);
    starts.addEventListener("change", function () {
      var start = parse(starts.value);
      if (start === null) return;
      var end = parse(ends.value);
      var length = end !== null && previousStart !== null && end > previousStart
        ? end - previousStart
        : TWO_HOURS;
      ends.value = format(start + length);
      previousStart = start;
    });
  }
})();
