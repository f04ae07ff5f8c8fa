"""Forms, one module per part of the workspace."""


def with_all_choice(label, choices):
    """A filter's choices with an empty first one meaning "all"."""
    return [("", label), *choices]
