"""Entry script for the PyInstaller build: the same `embedview` command as `pip install`."""
import multiprocessing
import sys

if __name__ == "__main__":
    # UMAP runs in a spawned child process (embedview.runtime.isolated); in a frozen app that child
    # re-runs this script, and freeze_support() turns it into the job instead of a second app.
    multiprocessing.freeze_support()
    from embedview.cli import main

    sys.exit(main())
