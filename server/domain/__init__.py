"""Domain actions: one async function per user action; rules in access.py; errors in errors.py."""
