"""Entry point of the one-file binary (PyInstaller runs this script; see parley.spec)."""
import sys

from server.cli import main

if __name__ == "__main__":
    sys.exit(main())
