// A select marked data-autosubmit sends its form as soon as another option is chosen (no inline
// handler: the CSP allows script files only). Without JavaScript the form's own button does.
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () {
    if (select.form.requestSubmit) {
      select.form.requestSubmit();
    } else {
      select.form.submit();
    }
  });
});
