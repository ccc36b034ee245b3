#!/usr/bin/env python3
"""Many servers on one machine: what grows with the server count (issue 16).

For each server count (default 1, 4, 16, 64) and repetition, starts that many benchfsd
on loopback ports, then measures:

- the time until all serve: from spawning them to the first `benchfs status` that
  reaches all of them (which also forms the ring), and how long that `status` took;
- each server's idle RSS and open descriptors;
- with P client processes connected (bench/driver.rs through the C API, P up to
  --clients): connections per server and the memory each costs the server;
- mdtest-like creates: P processes creating --files empty files in one directory;
- `benchfs ls` of that directory (--files entries) and a later `benchfs status`;
- placement balance: metadata records and chunk bytes per server (max/mean) after the
  creates and after `benchfs put` of a --big-mib file.

Servers, clients and the CLI share this machine's cores: times are what one machine
shows, not a cluster. Writes results/scale-TIME.csv, docs/img/scale-*.png and the
generated section of docs/scaling.md. Usually run through bench/scale.sh, which builds.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from lib.cluster import stop_all
from lib.scale_report import read_csv, update_report

ROOT = Path(__file__).resolve().parent.parent
READY = "benchfsd listening on "


def log(msg):
    print(f"scale: {msg}", flush=True)


def proc_status_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def fds(pid):
    """(open descriptors, of which sockets) of a process."""
    n = socks = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        n += 1
        try:
            socks += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n, socks


class Servers:
    """`n` benchfsd on 127.0.0.1, started at once; stopped (SIGTERM) and removed on exit."""

    def __init__(self, bin_dir, n, base):
        self.bin_dir, self.n = bin_dir, n
        self.dir = Path(tempfile.mkdtemp(prefix=f"scale{n}-", dir=base))
        self.registry = self.dir / "registry"
        self.procs, self.addrs = [], []

    def __enter__(self):
        t0 = time.monotonic()
        try:
            for i in range(self.n):
                err = open(self.dir / f"s{i}.log", "wb")
                self.procs.append(subprocess.Popen(
                    [str(self.bin_dir / "benchfsd"), "--listen", "127.0.0.1:0", "--data-dir",
                     str(self.dir / f"s{i}"), "--registry", str(self.registry)],
                    stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                    env={**os.environ, "RUST_LOG": "warn"}))
                err.close()
            for i, p in enumerate(self.procs):
                line = p.stdout.readline().decode().strip()
                if not line.startswith(READY):
                    raise RuntimeError(f"benchfsd {i} did not start: {(self.dir / f's{i}.log').read_text()}")
                self.addrs.append(line[len(READY):])
            self.listening_s = time.monotonic() - t0
            self.status_s = self.status()[0]
            self.serving_s = time.monotonic() - t0
        except BaseException:
            self.__exit__()
            raise
        return self

    def cli(self, *args, check=True):
        t = time.monotonic()
        out = subprocess.run([str(self.bin_dir / "benchfs"), "--registry", str(self.registry), *args],
                             capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t
        if check and out.returncode != 0:
            raise RuntimeError(f"benchfs {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return took, out.stdout

    def status(self):
        """(seconds, {addr: (chunk bytes, records)}) from `benchfs status`."""
        took, out = self.cli("status")
        per = {}
        for line in out.splitlines()[1:]:
            f = line.split()
            if len(f) >= 6 and f[1] == "reachable":
                per[f[0]] = (int(f[3]), int(f[5]))
        if len(per) != self.n:
            raise RuntimeError(f"benchfs status lists {len(per)} of {self.n} servers:\n{out}")
        return took, per

    def usage(self):
        """Per server: (RSS KiB, descriptors, sockets)."""
        return [(proc_status_kib(p.pid, "VmRSS"), *fds(p.pid)) for p in self.procs]

    def __exit__(self, *exc):
        stop_all(self.procs, grace=30)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def driver(args, registry, phase, rank=0, nprocs=1, files=0, wait=True):
    cmd = [str(args.driver), "--api", "capi", "--root", "/scale", "--registry", str(registry),
           "--phase", phase, "--rank", str(rank), "--nprocs", str(nprocs), "--files", str(files)]
    if not wait:
        cmd.append("--no-wait")
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, what):
    out, err = p.communicate(timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed: {err.strip()}")
    return out


def spread(values):
    """max/mean of per-server values (1.0: perfectly even)."""
    mean = statistics.mean(values)
    return max(values) / mean if mean else 0.0


def one_run(args, n, rep, rows):
    def row(metric, value, unit, **extra):
        rows.append({"servers": n, "rep": rep, "metric": metric, "value": value, "unit": unit, **extra})

    with Servers(args.bin_dir, n, args.base) as s:
        row("listening", s.listening_s, "s")
        row("serving", s.serving_s, "s")
        row("status-first", s.status_s, "s")
        idle = s.usage()
        row("idle-rss", statistics.mean(u[0] for u in idle) / 1024, "MiB")
        row("idle-fds", statistics.mean(u[1] for u in idle), "fds")

        finish(driver(args, s.registry, "mkdir", wait=False), "mkdir")
        p = min(args.clients, args.files)
        per_rank = args.files // p
        clients = [driver(args, s.registry, "create", r, p, per_rank) for r in range(p)]
        for c in clients:
            if c.stdout.readline().strip() != "ready":
                raise RuntimeError(f"client did not connect: {c.stderr.read()}")
        # The connections stay open while the clients wait for "go".
        busy = s.usage()
        conns = statistics.mean(b[2] - i[2] for b, i in zip(busy, idle))
        row("conns", conns, "per server", clients=p)
        row("busy-fds", statistics.mean(b[1] for b in busy), "fds", clients=p)
        per_conn = [(b[0] - i[0]) / max(1, b[2] - i[2]) for b, i in zip(busy, idle)]
        row("rss-per-conn", statistics.mean(per_conn), "KiB", clients=p)
        for c in clients:
            c.stdin.write("go\n")
            c.stdin.flush()
        res = [json.loads(finish(c, "create").strip().splitlines()[-1]) for c in clients]
        span = (max(r["end_ns"] for r in res) - min(r["start_ns"] for r in res)) / 1e9
        row("creates", sum(r["ops"] for r in res) / span, "ops/s", clients=p)

        took, out = s.cli("ls", "/scale/md")
        listed = len(out.split())
        if listed != per_rank * p:
            raise RuntimeError(f"benchfs ls listed {listed} of {per_rank * p} entries")
        row("readdir", took, "s", entries=listed)

        took, per = s.status()
        row("status", took, "s")
        row("records-spread", spread([v[1] for v in per.values()]), "max/mean", records=sum(v[1] for v in per.values()))
        big = s.dir / "big"
        with open(big, "wb") as f:
            f.truncate(args.big_mib << 20)  # sparse locally; written out whole to BenchFS
        s.cli("put", str(big), "/big")
        big.unlink()
        _, per = s.status()
        row("chunk-bytes-spread", spread([v[0] for v in per.values()]), "max/mean", mib=args.big_mib)
    log(f"{n} servers, rep {rep}: done")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="1,4,16,64", help="server counts, comma-separated (default 1,4,16,64)")
    ap.add_argument("--clients", type=int, default=64, help="client processes at most (default 64)")
    ap.add_argument("--files", type=int, default=10000,
                    help="files created (and listed) per run, over all clients (default 10^4)")
    ap.add_argument("--big-mib", type=int, default=1024, help="size of the file written for chunk balance (MiB)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "target/release")
    ap.add_argument("--driver", type=Path)
    ap.add_argument("--report", type=Path, help="redo the report of a saved results/scale-TIME.csv; run nothing")
    ap.add_argument("--base", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="where servers keep their data (default /dev/shm)")
    ap.add_argument("--out", type=Path, default=ROOT / "results")
    ap.add_argument("--command", default="bench/scale.sh", help="the command line shown in the report")
    ap.add_argument("--no-docs", action="store_true", help="write the CSV only")
    args = ap.parse_args()
    if args.report:
        meta = json.loads(Path(str(args.report) + ".json").read_text())
        update_report(read_csv(args.report), meta, args.report.parent, ROOT / "docs", args.report.name)
        return
    if args.driver is None:
        ap.error("--driver is required (bench/scale.sh finds it)")
    counts = [int(x) for x in args.servers.split(",") if x]
    rows = []
    start, load0 = time.time(), os.getloadavg()[0]
    for rep in range(args.reps):
        for n in counts:
            one_run(args, n, rep, rows)
    meta = {"command": args.command, "seconds": time.time() - start, "load": (load0, os.getloadavg()[0]),
            "host": socket.gethostname(), "cores": os.cpu_count(), "files": args.files, "big_mib": args.big_mib,
            "clients": args.clients, "reps": args.reps, "date": time.strftime("%Y-%m-%d %H:%M")}
    update_report(rows, meta, args.out, None if args.no_docs else ROOT / "docs")


if __name__ == "__main__":
    main()
