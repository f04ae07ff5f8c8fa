// django-celery-beat's periodic task form in the admin
// (templates/admin/djcelery/change_periodictask_form.html): the chosen crontab's meaning in words
// under its help text, as the library's own inline script did (the CSP allows files only).
"use strict";
{
  const label = document.currentScript.dataset.label;
  const data = document.getElementById("readable-crontabs");
  const readable = data ? JSON.parse(data.textContent) : {};
  const help = document.querySelector(".field-crontab .help");
  const original = help ? help.textContent : "";
  const translation = document.querySelector(".field-crontab_translation");
  if (translation) translation.style.display = "none";
  const crontab = document.getElementById("id_crontab");
  if (crontab && help) {
    django.jQuery(crontab).on("change", function () {
      help.textContent = original;
      const words = readable[crontab.value];
      if (words) {
        help.appendChild(document.createElement("br"));
        help.appendChild(document.createTextNode(label + ": " + words));
      }
    });
  }
}
