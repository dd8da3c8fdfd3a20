#!/usr/bin/env python3
"""Progress bars: on a terminal, `convert` and `generate` (loading) draw one, redrawn in place with
\\r and cleared at the end; piped, or with --quiet, stderr carries no bar at all.

Usage: progress_test.py CLI MODEL_DIR WORK_DIR
"""
import os
import pty
import shutil
import subprocess
import sys

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def on_terminal(args):
    """stdout and stderr of `args` on a pseudo-terminal, as one stream."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return proc.wait(), out.decode(errors="replace")


def main(cli, model_dir, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for quiet in (False, True):
        out_dir = os.path.join(work, f"converted_{quiet}")
        args = [cli, *(["--quiet"] if quiet else []), "convert", "--model", model_dir, "--out", out_dir, "--dtype", "bfloat16"]
        code, text = on_terminal(args)
        drawn = "converting [" in text and "100%" in text and "\r" in text and "\x1b[2K" in text
        check(code == 0 and drawn != quiet, f"convert on a terminal{' with --quiet' if quiet else ''}: "
                                            f"{'no bar' if quiet else 'a bar redrawn in place'}")
    piped = subprocess.run([cli, "convert", "--model", model_dir, "--out", os.path.join(work, "piped")],
                           capture_output=True, text=True)
    check(piped.returncode == 0 and "[" not in piped.stderr and "\r" not in piped.stderr + piped.stdout,
          f"convert piped: no bar ({piped.stderr!r})")
    code, text = on_terminal([cli, "generate", "--model", model_dir, "--input-ids", "1,2,3", "--max-new-tokens", "2"])
    check(code == 0 and "loading " in text and "loaded " in text, "generate on a terminal: a loading bar and a status line")
    print(f"{len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
