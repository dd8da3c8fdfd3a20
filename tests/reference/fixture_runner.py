"""What the fixture scripts share: the case loop, skip/fail reporting, and JSON as transformers writes it.

A script defines CASES = {name: (family, fn)} where fn(case_dir) builds one case and returns the
dict that becomes its case.json (or raises SkipCase with the reason, recorded in index.json).
"""
import json
import os
import shutil
import sys
import time
import traceback

import torch


class SkipCase(Exception):
    """The installed packages cannot build this case; the reason goes to index.json."""


class CheckFailed(Exception):
    """A self-check failed: the fixture would be wrong, so the script fails."""


def quiet_transformers():
    """Offline (HF_HUB_OFFLINE), errors only, no progress bars. Call it before the script's first
    `import transformers`: the environment variables are read when transformers is imported."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def run_cases(argv, usage, cases, subdir, finish=lambda name, family, info: info):
    """Runs the cases named in argv[2:] (all by default) into OUT_DIR/subdir; returns the exit status.

    `finish(name, family, info)` turns a case function's result into the case.json content.
    """
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(usage, file=sys.stderr)
        return 2
    wanted = argv[2:] or list(cases)
    unknown = [c for c in wanted if c not in cases]
    if unknown:
        print(f"unknown case(s): {unknown}; known: {list(cases)}", file=sys.stderr)
        return 2
    # One thread: these models are tiny (a [2, 9, 32] matmul takes ~10 us on one thread), and on a
    # busy 2-core machine OpenMP's second thread turns each op into a ~15 ms spin-wait.
    torch.set_num_threads(1)
    root = os.path.join(argv[1], subdir)
    os.makedirs(root, exist_ok=True)
    produced, skipped, failed = [], {}, []
    t_all = time.time()
    for name in wanted:
        family, fn = cases[name]
        case_dir = os.path.join(root, name)
        t0 = time.time()
        try:
            shutil.rmtree(case_dir, ignore_errors=True)
            os.makedirs(case_dir)
            info = fn(case_dir)
        except SkipCase as e:
            skipped[name] = str(e)
            shutil.rmtree(case_dir, ignore_errors=True)
            print(f"[skip] {name}: {e}", flush=True)
            continue
        except Exception:  # noqa: BLE001 - report every broken case, then fail
            failed.append(name)
            print(f"[FAIL] {name}", flush=True)
            traceback.print_exc()
            continue
        write_json(os.path.join(case_dir, "case.json"), {"case": name, "family": family, **finish(name, family, info)})
        produced.append(name)
        print(f"[ok] {name} ({time.time() - t0:.2f}s)", flush=True)

    write_json(os.path.join(root, "index.json"), {"cases": produced, "skipped": skipped})
    print(f"{len(produced)} cases, {len(skipped)} skipped, {len(failed)} failed in {time.time() - t_all:.1f}s",
          flush=True)
    return 1 if failed else 0
