/* Roll call and attendance board: small comforts on top of pages that work without script.
   - live counts of present / absent / leave / not marked;
   - "mark the rest present" for the people nobody has tapped yet;
   - a pending leave request follows the mark (present or absent answers it as not approved);
   - walk-ins found and added without reloading the page (the server renders their row), the
     search emptied and focused for the next one;
   - the print button of the board. */
(function () {
  "use strict";

  var form = document.getElementById("roll-call-form");
  var rowsList = document.getElementById("roll-call-rows");

  function reveal(selector) {
    document.querySelectorAll(selector).forEach(function (el) {
      el.hidden = false;
    });
  }

  function markOf(row) {
    var checked = row.querySelector(".xc-rc-marks input:checked");
    return checked ? checked.value : "";
  }

  function updateCounts() {
    if (!form) return;
    var counts = { present: 0, absent: 0, leave: 0, unmarked: 0, total: 0 };
    form.querySelectorAll(".xc-rc-row").forEach(function (row) {
      counts[markOf(row) || "unmarked"] += 1;
      counts.total += 1;
    });
    Object.keys(counts).forEach(function (key) {
      form.querySelectorAll('[data-count="' + key + '"]').forEach(function (el) {
        el.textContent = counts[key];
      });
    });
  }

  function setChecked(row, selector, value) {
    var input = row.querySelector(selector + ' input[value="' + value + '"]');
    if (input) input.checked = true;
  }

  function uncheck(row, selector) {
    row.querySelectorAll(selector + " input:checked").forEach(function (input) {
      input.checked = false;
    });
  }

  function onChange(event) {
    var input = event.target;
    var row = input.closest(".xc-rc-row");
    if (!row) return;
    if (row.hasAttribute("data-pending-leave")) {
      if (input.closest(".xc-rc-marks")) {
        if (input.value === "leave") uncheck(row, ".xc-rc-decision");
        else setChecked(row, ".xc-rc-decision", "rejected");
      } else if (input.closest(".xc-rc-decision")) {
        if (input.value === "approved") setChecked(row, ".xc-rc-marks", "leave");
        else if (markOf(row) === "leave") uncheck(row, ".xc-rc-marks");
      }
    }
    if (input.closest(".xc-rc-marks") && input.value === "leave") {
      var reason = row.querySelector(".xc-rc-reason input");
      if (reason && !reason.value) reason.focus();
    }
    updateCounts();
  }

  function markRestPresent() {
    form.querySelectorAll(".xc-rc-row:not([data-pending-leave])").forEach(function (row) {
      if (!markOf(row)) setChecked(row, ".xc-rc-marks", "present");
    });
    updateCounts();
  }

  function presentIds() {
    var ids = {};
    form.querySelectorAll(".xc-rc-row[data-member]").forEach(function (row) {
      ids[row.getAttribute("data-member")] = true;
    });
    return ids;
  }

  function showResults(box, html) {
    box.innerHTML = html;
    var here = presentIds();
    box.querySelectorAll("[data-add-walk-in]").forEach(function (button) {
      if (here[button.getAttribute("data-add-walk-in")]) button.closest("li").remove();
    });
  }

  // After a walk-in is added the search starts afresh: no query, no stale results, the cursor
  // in the box, so the next walk-in is typed at once. The notice says who was added.
  function readyForTheNext(search, box, row) {
    var input = search.querySelector("input[name=q]");
    box.innerHTML = "";
    input.value = "";
    input.focus();
    var notice = document.querySelector("[data-walk-in-added]");
    var name = row.querySelector(".xc-rc-name");
    if (notice && name) {
      notice.querySelector("[data-name]").textContent = name.textContent;
      notice.hidden = false;
    }
  }

  function addWalkIn(button, search, box) {
    var item = button.closest("li");
    var template = item.querySelector("template");
    var row = template.content.firstElementChild.cloneNode(true);
    if (!presentIds()[row.getAttribute("data-member")]) {
      row.classList.add("xc-rc-new");
      rowsList.appendChild(row);
      var empty = form.querySelector("[data-empty]");
      if (empty) empty.remove();
      updateCounts();
    }
    readyForTheNext(search, box, row);
  }

  function enhanceSearch() {
    var search = document.querySelector("[data-walk-in-search]");
    var box = document.getElementById("walk-in-results");
    if (!search || !box || !window.fetch) return;
    search.addEventListener("submit", function (event) {
      event.preventDefault();
      var params = new URLSearchParams(new FormData(search));
      params.set("format", "fragment");
      box.setAttribute("aria-busy", "true");
      fetch(search.action + "?" + params.toString(), {
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.text();
        })
        .then(function (html) {
          showResults(box, html);
        })
        .catch(function () {
          search.submit(); // the page without script still works
        })
        .finally(function () {
          box.removeAttribute("aria-busy");
        });
    });
    box.addEventListener("click", function (event) {
      var button = event.target.closest("[data-add-walk-in]");
      if (button) addWalkIn(button, search, box);
    });
  }

  if (form && rowsList) {
    form.addEventListener("change", onChange);
    var rest = form.querySelector("[data-rest-present]");
    if (rest) rest.addEventListener("click", markRestPresent);
    reveal("[data-rest-present]");
    enhanceSearch();
    updateCounts();
  }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
