"""Quitting: no "leaked semaphore" warning, and the app's process ends promptly.

Every quit used to print ``resource_tracker: There appear to be 1 leaked semaphore objects`` and
took ~8 s: the encoder process spent seconds in the interpreter's finalisation after torch & co.
(the window waited 5 s, then terminated it), and the UMAP process was terminated the moment its
result arrived, before it had unlinked the semaphore tqdm made for umap's epoch bar.  The
resource tracker prints its warning when the *parent* ends, so each test here runs its program in
a subprocess and reads that process's stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from english_sentences import SENTENCES

ROOT = Path(__file__).resolve().parents[1]
LEAK = "leaked semaphore"


def _run(script: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


def test_a_job_process_that_made_a_semaphore_is_not_cut_short(tmp_path):
    """``run_isolated``: the child makes a semaphore (as tqdm does) whose clean-up takes a moment;
    the parent waits for the child to end by itself instead of terminating it after the result."""
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, time
        from multiprocessing import util
        from embedview.runtime.isolated import run_isolated

        def job(progress=None):
            global LOCK
            LOCK = multiprocessing.get_context("spawn").RLock()  # tqdm's lock is one of these
            util.Finalize(None, time.sleep, args=(1.0,), exitpriority=10)  # runs before the lock's clean-up
            return 42

        if __name__ == "__main__":
            print("result", run_isolated(job), flush=True)
    """))
    proc = _run(script, dict(os.environ), timeout=120)
    assert proc.returncode == 0 and "result 42" in proc.stdout, proc.stderr
    assert LEAK not in proc.stderr


def test_the_encoder_process_ends_by_itself_at_shutdown(tmp_path):
    """The host answers "exit" by releasing its semaphores and ending at once (exit code 0), not
    after the interpreter's finalisation, which the window waited 5 s for and then cut short."""
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent("""
        import atexit, multiprocessing, time
        from embedview.runtime.encoder_host import EncoderHost

        def job(progress=None):
            global LOCK
            LOCK = multiprocessing.get_context("spawn").RLock()
            atexit.register(time.sleep, 30)  # what finalising torch & co. looks like from outside
            return "loaded"

        if __name__ == "__main__":
            host = EncoderHost()
            print(host.call(job), flush=True)
            proc, reader = host._proc, host._reader
            host.shutdown()  # as at the window's exit (atexit), with its default timeout
            reader.join(30)  # its own join of the process races shutdown's: both have seen the exit now
            print("exit code", proc.exitcode, flush=True)
    """))
    proc = _run(script, dict(os.environ), timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "loaded" in proc.stdout and "exit code 0" in proc.stdout, proc.stdout + proc.stderr
    assert LEAK not in proc.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="offscreen Qt in a subprocess, tested on Linux")
def test_the_app_quits_promptly_without_a_leaked_semaphore(tmp_path):
    """The real app, offscreen, in its own process: open 30 sentences (encoded in the encoder
    process), wait for the map (UMAP in its child process) and the duplicates, close the window.
    The process must end, without the warning; the seconds it took are printed for the record."""
    data = tmp_path / "sentences.txt"
    data.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from PySide6.QtCore import QTimer
        from embedview.gui.app import create
        from embedview.model import AnalysisKind, ProjectionMethod

        def main():
            app, window = create([sys.argv[1]])
            started = time.monotonic()

            def poll():
                m = window.model
                ready = (m.emb is not None and m.projection(ProjectionMethod.UMAP) is not None
                         and m.get_analysis(AnalysisKind.DUPLICATES) is not None)
                if ready or time.monotonic() - started > 400:
                    timer.stop()
                    print("READY" if ready else "NOT READY", flush=True)
                    window.close()
                    app.quit()
                    print(f"CLOSED {time.time():.3f}", flush=True)

            timer = QTimer()
            timer.timeout.connect(poll)
            timer.start(100)
            return app.exec()

        if __name__ == "__main__":
            sys.exit(main())
    """).replace("sys.argv[1]", repr(str(data))))
    from embedview.core.cache import cache_dir

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               EMBEDVIEW_CACHE_DIR=str(tmp_path / "cache"),
               # numba's compiled UMAP as the user's app would find it (a cold cache costs minutes)
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR") or str(cache_dir("numba")))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)
    try:
        out, err = proc.communicate(timeout=570)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the app did not end:\n{out}\n{err[-3000:]}")
    ended = time.time()
    assert "READY" in out and "NOT READY" not in out, out + err[-3000:]
    assert proc.returncode == 0, err[-3000:]
    assert LEAK not in err, err[-3000:]
    closed = float(out.split("CLOSED ")[1].split()[0])
    print(f"the app's process ended {ended - closed:.1f} s after its window closed")


def test_a_job_process_whose_parent_was_killed_ends_quietly(tmp_path):
    """A window killed mid-job (the desktop's "force quit"): the job's next progress report finds
    no one to read it, and the child ends at once, without a BrokenPipeError traceback."""
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(f"""
        import os, threading, time
        from embedview.runtime.isolated import run_isolated

        def job(progress=None):
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            for i in range(100000):
                progress.report(i, 100000, "working")
                time.sleep(0.01)

        if __name__ == "__main__":
            threading.Thread(target=run_isolated, args=(job,), daemon=True).start()
            while not os.path.exists({str(pid_file)!r}):
                time.sleep(0.05)
            time.sleep(0.5)
            os._exit(9)  # killed: no clean-up of any kind
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)  # returns once the child closed stderr too
    assert proc.returncode == 9
    child = int(pid_file.read_text())
    for _ in range(200):
        try:
            os.kill(child, 0)
            status = Path(f"/proc/{child}/status")
            if status.exists() and "\tZ" in status.read_text().split("State:", 1)[1].split("\n", 1)[0]:
                break  # ended; a zombie until whoever adopted it reaps it
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the job's process outlived its killed parent")
    assert "Traceback" not in proc.stderr, proc.stderr
