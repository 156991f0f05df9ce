"""Parley's HTTP side: the Quart-trio app, the OCS layer, auth, routes, the CLI."""

# The one place the version lives: pyproject.toml reads it (dynamic version), so a frozen binary,
# a source checkout and an installed wheel all report the same without package metadata.
__version__ = "0.1.0"
