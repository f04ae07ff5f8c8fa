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

  // The picker: matches come as one types, instead of posting the form back for each search.
  var picker = bar.querySelector("[data-assignee-picker]");
  if (!picker || !window.fetch) return;
  var box = picker.querySelector("[data-assignee-q]");
  var results = picker.querySelector("[data-assignee-results]");
  var find = picker.querySelector("[data-assignee-find]");
  var timer = null;
  var asked = 0;

  function line(className, text) {
    var p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    return p;
  }

  function show(data) {
    var checked = results.querySelector("input[name=member]:checked");
    var keep = checked ? checked.value : null;
    while (results.firstChild) results.removeChild(results.firstChild);
    data.errors.forEach(function (error) {
      var div = line("text-danger small", error);
      div.setAttribute("role", "alert");
      results.appendChild(div);
    });
    data.results.forEach(function (member) {
      var div = document.createElement("div");
      div.className = "form-check";
      var input = document.createElement("input");
      input.className = "form-check-input";
      input.type = "radio";
      input.name = "member";
      input.value = member.id;
      input.id = "assignee-" + member.id;
      input.checked = String(member.id) === keep;
      input.setAttribute("data-testid", "assignee");
      var label = document.createElement("label");
      label.className = "form-check-label text-break";
      label.htmlFor = input.id;
      label.append(member.name + " ");
      var small = document.createElement("small");
      small.className = "text-body-secondary ms-1";
      small.textContent =
        member.agency + " · " + member.mobile +
        (member.on_activity ? " · " + picker.dataset.textSignedUp : "");
      label.appendChild(small);
      div.append(input, label);
      results.appendChild(div);
    });
    if (data.query.trim() && !data.errors.length && !data.results.length) {
      results.appendChild(line("small text-body-secondary mb-1", picker.dataset.textNone));
    }
    if (data.more) results.appendChild(line("small text-body-secondary mb-1", picker.dataset.textMore));
  }

  function search() {
    clearTimeout(timer);
    var query = box.value.trim();
    if (/^\d{1,3}$/.test(query)) return; // the last 4 digits are needed; wait for them
    var mine = ++asked;
    fetch(picker.dataset.searchUrl + "?member_q=" + encodeURIComponent(query), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.ok ? response.json() : Promise.reject(response.status);
      })
      .then(function (data) {
        if (mine === asked) show(data); // an older answer arriving late is dropped
      })
      .catch(function () {
        /* The Find button still posts the form: nothing is lost. */
      });
  }

  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault(); // not a post of the form: a search
      search();
    }
  });
  find.addEventListener("click", function (event) {
    event.preventDefault();
    search();
  });
})();
