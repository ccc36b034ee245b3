#!/usr/bin/env python3
"""Data staging side by side: `benchfs stage-in/stage-out` against `benchfs put/get` of
one large file and against `cp -r` onto/off the FUSE mount, with 1 and 2 processes.

  bench/staging.py [--large-files N] [--large-size SIZE] [--small-files N] [--reps R] [--servers S]

Builds nothing: run `cargo build --release --workspace` first (or pass --bin DIR).
Source trees live on /dev/shm (a local directory standing in for the site's parallel
file system); S servers (default 2) on 127.0.0.1 with data on /dev/shm. Each
repetition runs every case once, in turn, so the ratios compare runs made side by side;
prints min and median seconds, bandwidth or files/s, and the ratios the issue asks for.
The defaults are modest (20 x 20 MiB + 2,000 x 4 KiB); the issue's full size is
--large-files 100 --small-files 10000.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

from cluster import Cluster, FuseMount, Skip, log  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def size(s):
    s = s.strip().lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:], 1)
    return int(s[:-1] if s[-1:] in "kmg" else s) * mult


def make_trees(base: Path, nlarge, large, nsmall):
    """large/: nlarge random files; small/: nsmall 4 KiB files in 10 dirs; big: one file of all large bytes."""
    (base / "large").mkdir()
    with open("/dev/urandom", "rb") as r:
        block = r.read(large)
    for i in range(nlarge):
        # Distinct contents without paying for urandom each time.
        (base / "large" / f"f{i:04}").write_bytes(i.to_bytes(8, "little") + block[8:])
    with open(base / "big", "wb") as f:
        for i in range(nlarge):
            f.write(i.to_bytes(8, "little") + block[8:])
    for d in range(10):
        (base / "small" / f"d{d}").mkdir(parents=True)
    for i in range(nsmall):
        (base / "small" / f"d{i % 10}" / f"s{i:05}").write_bytes(i.to_bytes(8, "little") * 512)


def timed(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def ranks(cmd, n, run_id):
    """`cmd` as n processes with Slurm's rank variables, as `srun -n N` would start it."""
    t = time.perf_counter()
    procs = []
    for r in range(n):
        env = {**os.environ, "SLURM_PROCID": str(r), "SLURM_STEP_NUM_TASKS": str(n),
               "SLURM_STEP_ID": "0", "SLURM_JOB_ID": run_id}
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"{cmd} rank failed")
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--large-files", type=int, default=20)
    p.add_argument("--large-size", type=size, default=20 << 20)
    p.add_argument("--small-files", type=int, default=2000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--servers", type=int, default=2)
    p.add_argument("--bin", type=Path, default=ROOT / "target" / "release")
    a = p.parse_args()
    bfs = str(a.bin / "benchfs")
    base = Path(tempfile.mkdtemp(prefix="bench-staging-", dir="/dev/shm"))
    times = {}

    def add(case, secs):
        times.setdefault(case, []).append(secs)

    try:
        src = base / "src"
        src.mkdir()
        make_trees(src, a.large_files, a.large_size, a.small_files)
        with Cluster(a.bin, a.servers, base) as c:
            cli = [bfs, "--registry", str(c.registry)]
            try:
                mount = FuseMount(a.bin, c.registry, base)
            except Skip as e:
                log(f"no FUSE comparison: {e}")
                mount = None
            with mount or _Null(), _logs_on_error(c):
                for rep in range(a.reps):
                    log(f"repetition {rep + 1}/{a.reps}")
                    out = base / "out"

                    def fresh(*paths):
                        for q in paths:
                            subprocess.run(cli + ["rm", "-r", q], capture_output=True)
                        shutil.rmtree(out, ignore_errors=True)

                    fresh("/big", "/l1", "/l2", "/s1", "/cp")
                    add("put (1 file)", timed(cli + ["put", str(src / "big"), "/big"]))
                    add("get (1 file)", timed(cli + ["get", "/big", str(base / "big.out")]))
                    os.unlink(base / "big.out")
                    add("stage-in large, 1 proc", timed(cli + ["stage-in", str(src / "large"), "/l1"]))
                    add("stage-in large, 2 procs", ranks(cli + ["stage-in", str(src / "large"), "/l2"], 2, f"in{rep}"))
                    add("stage-in small, 1 proc", timed(cli + ["stage-in", str(src / "small"), "/s1"]))
                    add("stage-out large, 1 proc", timed(cli + ["stage-out", "/l1", str(out / "l1")]))
                    add("stage-out large, 2 procs", ranks(cli + ["stage-out", "/l1", str(out / "l2")], 2, f"out{rep}"))
                    add("stage-out small, 1 proc", timed(cli + ["stage-out", "/s1", str(out / "s1")]))
                    if mount:
                        add("cp -r large onto FUSE", timed(["cp", "-r", str(src / "large"), str(mount.mnt / "cp")]))
                        add("cp -r large off FUSE", timed(["cp", "-r", str(mount.mnt / "cp"), str(out / "cp")]))
                    fresh("/big", "/l1", "/l2", "/s1", "/cp")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(times, a)


class _logs_on_error:
    """Shows the servers' logs when a case fails (they are deleted with the cluster)."""

    def __init__(self, c):
        self.c = c

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is not None:
            for f in sorted(self.c.dir.glob("s*.log")):
                log(f"{f.name}: {f.read_text()[-2000:]}")
        return False


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def report(times, a):
    large = a.large_files * a.large_size
    small = a.small_files
    print(f"\n{a.large_files} x {a.large_size >> 20} MiB (large) and {small} x 4 KiB (small) files, "
          f"{a.servers} servers, {a.reps} repetitions\n")
    print("| case | min s | median s | median rate |")
    print("|---|---:|---:|---:|")
    med = {}
    for case, ts in times.items():
        med[case] = statistics.median(ts)
        rate = f"{small / med[case]:.0f} files/s" if "small" in case else f"{large / med[case] / (1 << 20):.0f} MiB/s"
        print(f"| {case} | {min(ts):.3f} | {med[case]:.3f} | {rate} |")
    print("\nratios of medians (higher is better for staging):")
    for d, single in [("in", "put (1 file)"), ("out", "get (1 file)")]:
        s1 = med[f"stage-{d} large, 1 proc"]
        s2 = med[f"stage-{d} large, 2 procs"]
        print(f"  stage-{d} large vs {single}: {med[single] / s1:.2f}x bandwidth (target >= 0.8)")
        cp = "cp -r large onto FUSE" if d == "in" else "cp -r large off FUSE"
        if cp in med:
            print(f"  stage-{d} large vs {cp}: {med[cp] / s1:.2f}x (target >= 3)")
        print(f"  stage-{d} large 2 procs vs 1: {s1 / s2:.2f}x (target >= 1)")
        print(f"  stage-{d} small: {small / med[f'stage-{d} small, 1 proc']:.0f} files/s (target >= 5000)")


if __name__ == "__main__":
    main()
