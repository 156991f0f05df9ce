"""Calls through a selective forwarding unit: a trio Janus client (`janus.py`) and the controller
that maps the standalone protocol's MCU flow onto Janus videorooms (`controller.py`)."""
