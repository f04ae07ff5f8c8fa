/* Admin list filters that search (communities/admin/autocomplete.py): choosing a row in the box
   opens the list filtered by it; clearing the box opens it unfiltered. select2 tells of the
   change through jQuery, so the handler is jQuery's too. */
"use strict";
{
  const $ = django.jQuery;
  $(document).on("change", "select[data-filter-param]", function () {
    const url = new URL(this.dataset.allUrl, window.location.href);
    if (this.value) url.searchParams.set(this.dataset.filterParam, this.value);
    window.location.assign(url.toString());
  });
}
