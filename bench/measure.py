"""What the training benchmarks share: running a command as its own process and reading its peak memory, and the
filler words their generated corpora are made of."""
import os
import subprocess
import sys
import tempfile

WORDS = ("the of and to in is was for on that with as by at from his her they this which are be or an had "
         "one two three four five hundred thousand river mountain city music light winter summer garden "
         "station library window letter morning evening science history market bridge forest ocean").split()


def run_measured(cmd, env):
    """Runs cmd; returns (stdout, peak resident set size in MiB: ru_maxrss from wait4, so the command's own
    process, loading included). Exits with the command's stderr tail if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        if status != 0:
            sys.exit(f"failed ({status}): {' '.join(cmd)}\n{err.read().decode(errors='replace')[-3000:]}")
        return out.read().decode(), usage.ru_maxrss / 1024.0
