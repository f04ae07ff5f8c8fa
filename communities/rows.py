"""Rows of a list read with `values()` rather than as model instances."""


class Row(dict):
    """A values() row that also reads as attributes, for the code and template tags that take a
    model instance (place_count reads an activity's current_status and place counts). A
    template finds its keys at the first try; on a model instance each name is first tried as
    a key and fails (a list's rows read a few hundred names)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
