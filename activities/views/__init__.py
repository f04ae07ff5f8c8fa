"""The activities app's pages, one module per part of the workspace; activities/urls.py lists
their paths."""
