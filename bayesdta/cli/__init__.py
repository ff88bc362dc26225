"""The ``bayesdta`` command line."""
