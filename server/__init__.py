"""Parley's HTTP side: the Quart-trio app, the OCS layer, auth, routes, the CLI."""
