"""The activities app's pages, one module per part of the workspace; each module lists its own
URL patterns in `urls`, which activities/urls.py puts together."""
