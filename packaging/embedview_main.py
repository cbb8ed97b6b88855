"""Entry script for the PyInstaller build: the same `embedview` command as `pip install`."""
import sys

from embedview.cli import main

if __name__ == "__main__":
    sys.exit(main())
