#!/usr/bin/env python3
"""Benchmarks every access path of BenchFS side by side, in one run (see bench/run.sh).

Targets (each skipped, with the reason, when it cannot run here):
  native    tmpfs through the kernel: the baseline
  bindfs    bindfs over tmpfs: a passthrough FUSE file system, i.e. FUSE's own cost
  client    BenchFS through the async Rust client
  capi      BenchFS through the C API (benchfs_init/benchfs_write/...)
  fuse      BenchFS through its FUSE mount (benchfs-fuse)
  fuse-dio  the same mount with --direct-io
  ior-native, ior-capi, ior-fuse
            IOR (and mdtest when BENCHFS_MDTEST_BIN is set) with -a POSIX on tmpfs,
            -a BENCHFS, and -a POSIX on the FUSE mount; needs BENCHFS_IOR_BIN (an IOR
            built with ior_integration/)
The first six run the same driver (bench/driver.rs), so they differ only in the path.

Workloads, for 1 and 2 client processes and 1..4 servers: sequential 1 MiB write/read
(file per process and one shared file), 4 KiB random write/read, create/stat/remove of
empty files. Reads run after dropping the page cache when root (tmpfs data stays).

Output: results/bench-TIME.csv, a Markdown table on stdout, docs/img/bench-*.png and
the section of docs/benchmarks.md between <!-- bench:begin --> and <!-- bench:end -->.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

from cluster import Bindfs, Cluster, FuseMount, Skip, drop_caches, log  # noqa: E402
from runner import WORKLOADS, DriverRun, IorRun, Sizes, ior_has_benchfs, run_driver_case  # noqa: E402
import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ALL_TARGETS = ["native", "bindfs", "client", "capi", "fuse", "fuse-dio", "ior-native", "ior-capi", "ior-fuse"]


def size(s):
    s = s.strip().lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:], 1)
    return int(s[:-1] if s[-1:] in "kmg" else s) * mult


def ints(s):
    return [int(x) for x in s.split(",") if x]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repetition, 1/2/4 servers (~2 min on 2 cores)")
    p.add_argument("--servers", type=ints, help="server counts (default 1,2,3,4; quick 1,2,4)")
    p.add_argument("--procs", type=ints, default=[1, 2], help="client process counts (default 1,2)")
    p.add_argument("--targets", help="comma-separated subset of: " + ", ".join(ALL_TARGETS)
                   + " (default: all; quick: all but fuse-dio)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of: " + ", ".join(WORKLOADS))
    p.add_argument("--reps", type=int, help="repetitions (median reported; default 3, quick 1)")
    p.add_argument("--block", type=size, help="bytes per process for sequential I/O (default 128M, quick 32M)")
    p.add_argument("--rand-ops", type=int, help="4 KiB random requests per process (default 10000, quick 1000)")
    p.add_argument("--files", type=int, help="files per process for create/stat/remove (default 2000, quick 500)")
    p.add_argument("--bin", type=Path, default=ROOT / "target" / "release", help="benchfsd, benchfs, benchfs-fuse")
    p.add_argument("--driver", type=Path, help="the driver binary (default: built by bench/run.sh)")
    p.add_argument("--tmp", type=Path, default=Path("/dev/shm") if os.path.isdir("/dev/shm") else Path("/tmp"),
                   help="tmpfs directory for native data and the servers' data (default /dev/shm)")
    p.add_argument("--out", type=Path, default=ROOT / "results", help="CSV directory (default results/)")
    p.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown file to update")
    p.add_argument("--no-docs", action="store_true", help="do not touch docs/ (no plots, no section)")
    p.add_argument("--report", type=Path, metavar="CSV",
                   help="run nothing: print the tables and redo plots and docs from a saved results/bench-*.csv")
    p.add_argument("--command", default=None, help=argparse.SUPPRESS)  # the command line, for the docs
    a = p.parse_args()
    q = a.quick
    a.servers = a.servers or ([1, 2, 4] if q else [1, 2, 3, 4])
    a.reps = a.reps or (1 if q else 3)
    a.block = a.block or ((32 if q else 128) << 20)
    a.rand_ops = a.rand_ops or (1000 if q else 10000)
    a.files = a.files or (500 if q else 2000)
    default_targets = [t for t in ALL_TARGETS if not (q and t == "fuse-dio")]
    a.targets = [t for t in a.targets.split(",") if t] if a.targets else default_targets
    a.workloads = [w for w in a.workloads.split(",") if w]
    bad = [t for t in a.targets if t not in ALL_TARGETS] + [w for w in a.workloads if w not in WORKLOADS]
    if bad:
        p.error(f"unknown target or workload: {', '.join(bad)}")
    return a


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(open("/proc/meminfo").readline().split()[1]) // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB RAM, Linux {platform.release()}"


class Bench:
    def __init__(self, a):
        self.a = a
        self.rows = []
        self.skipped = {}  # target -> reason
        self.run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.sizes = Sizes(a.block, a.rand_ops, a.files)
        self.base = Path(tempfile.mkdtemp(prefix="benchfs-bench-", dir=a.tmp))
        ior = os.environ.get("BENCHFS_IOR_BIN")
        self.ior = ior if ior and os.access(ior, os.X_OK) else None
        md = os.environ.get("BENCHFS_MDTEST_BIN")
        self.mdtest = md if md and os.access(md, os.X_OK) else None

    def skip(self, target, why):
        if target not in self.skipped:
            self.skipped[target] = why
            log(f"skipped: {target}: {why}")

    def record(self, tool, target, servers, procs, rep, res):
        row = {"run": self.run_id, "tool": tool, "target": target, "servers": servers, "procs": procs,
               "rep": rep, "caches_dropped": res.pop("dropped", None), **res}
        self.rows.append(row)
        v = f"{row['value']:.0f} {row['unit']}"
        log(f"  {target:<10} s={servers} p={procs} rep={rep} {row['workload']:<17} {v:>14}")

    def driver_case(self, target, run, servers):
        for p in self.a.procs:
            for rep in range(self.a.reps):
                for res in run_driver_case(run, p, self.sizes, self.a.workloads):
                    self.record("driver", target, servers, p, rep, res)

    def ior_case(self, target, run, servers):
        for p in self.a.procs:
            for rep in range(self.a.reps):
                for res in run.cases(p, self.sizes, self.a.workloads):
                    self.record("ior", target, servers, p, rep, res)

    def guarded(self, target, fn):
        """Runs one target's cases; a Skip or failure is recorded, not fatal."""
        try:
            fn()
        except Skip as e:
            self.skip(target, str(e))
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
            self.skip(target, f"FAILED: {e}")

    def ior_ok(self, target):
        if self.ior is None:
            self.skip(target, "BENCHFS_IOR_BIN is not set (an IOR built with ior_integration/; "
                              "mdtest via BENCHFS_MDTEST_BIN)")
            return False
        if target == "ior-capi" and not ior_has_benchfs(self.ior):
            self.skip(target, f"{self.ior} has no BENCHFS backend (see ior_integration/)")
            return False
        return True

    def run(self):
        a, t = self.a, self.a.targets
        drv = a.driver
        started = time.time()
        self.load_start = os.getloadavg()[0]
        # Targets without servers: once per process count.
        if "native" in t:
            d = self.base / "native"
            self.guarded("native", lambda: self.driver_case("native", DriverRun(drv, "posix", str(d)), 0))
        if "bindfs" in t:
            def bindfs():
                with Bindfs(self.base) as b:
                    self.driver_case("bindfs", DriverRun(drv, "posix", str(b.mnt / "bench")), 0)
            self.guarded("bindfs", bindfs)
        if "ior-native" in t and self.ior_ok("ior-native"):
            d = self.base / "ior-native"
            d.mkdir(exist_ok=True)
            self.guarded("ior-native", lambda: self.ior_case("ior-native", IorRun(self.ior, self.mdtest, "POSIX", str(d)), 0))

        for s in a.servers:
            log(f"cluster of {s} server(s)")
            with Cluster(a.bin, s, self.base) as c:
                reg = c.registry
                if "client" in t:
                    self.guarded("client", lambda: self.driver_case("client", DriverRun(drv, "client", "/bench", reg), s))
                if "capi" in t:
                    self.guarded("capi", lambda: self.driver_case("capi", DriverRun(drv, "capi", "/bench", reg), s))
                for name, extra in (("fuse", []), ("fuse-dio", ["--direct-io"])):
                    if name not in t:
                        continue

                    def fuse(name=name, extra=extra):
                        with FuseMount(a.bin, reg, self.base, extra) as m:
                            self.driver_case(name, DriverRun(drv, "posix", str(m.mnt / "bench")), s)
                            if name == "fuse" and "ior-fuse" in t and self.ior_ok("ior-fuse"):
                                self.guarded("ior-fuse", lambda: self.ior_case(
                                    "ior-fuse", IorRun(self.ior, self.mdtest, "POSIX", str(m.mnt)), s))
                    self.guarded(name, fuse)
                if "ior-capi" in t and self.ior_ok("ior-capi"):
                    self.guarded("ior-capi", lambda: self.ior_case(
                        "ior-capi", IorRun(self.ior, self.mdtest, "BENCHFS", "", reg), s))
                rss = c.peak_rss_mib()
                if rss:
                    log(f"servers' peak RSS: {', '.join(f'{x:.0f}' for x in rss)} MiB")
        if "ior-fuse" in t and "fuse" not in t:
            self.skip("ior-fuse", "needs the fuse target (it runs on that mount)")
        self.elapsed = time.time() - started
        self.load_end = os.getloadavg()[0]

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)

    def meta(self):
        """What the docs section says about the run; saved next to the CSV."""
        a = self.a
        env = [f"{k}={os.environ[k]}" for k in ("BENCHFS_IOR_BIN", "BENCHFS_MDTEST_BIN") if os.environ.get(k)]
        return {"run": self.run_id, "date": datetime.date.today().isoformat(), "machine": machine(),
                "command": " ".join(env + [(a.command or "bench/run.sh").strip()]), "tmp": str(a.tmp),
                "elapsed": self.elapsed, "load_start": self.load_start, "load_end": self.load_end,
                "block": a.block, "rand_ops": a.rand_ops, "files": a.files, "servers": a.servers,
                "procs": a.procs, "reps": a.reps, "skipped": self.skipped}


def section(m, rows, md_tables, scaling, images, img_note):
    """The generated section of docs/benchmarks.md."""
    mib = m["block"] >> 20
    lines = [
        "## Side by side: every access path (generated)",
        "",
        f"Generated by `bench/run.sh` on {m['date']}; regenerate with:",
        "",
        "```sh",
        m["command"],
        "```",
        "",
        f"Machine: {m['machine']}. Servers and native data on tmpfs (`{m['tmp']}`), clients on the same "
        f"machine (loopback TCP). Run took {m['elapsed']:.0f} s; load average {m['load_start']:.1f} at "
        f"the start, {m['load_end']:.1f} at the end. Raw numbers: `results/bench-{m['run']}.csv` "
        "(not committed).",
        "",
        f"Sizes per client process: {mib} MiB sequential in 1 MiB requests (file per process, "
        f"and one segment of one shared file); {m['rand_ops']} random 4 KiB requests within its "
        f"{mib} MiB file; {m['files']} empty files created, stat'ed, removed in one shared "
        f"directory. Servers: {', '.join(map(str, m['servers']))}; client processes: "
        f"{', '.join(map(str, m['procs']))}; {m['reps']} repetition(s), median shown. Every figure "
        "is an aggregate: all bytes or operations of all processes over the span from the "
        "first start to the last end; opening, closing and a final fsync are inside it.",
        "",
        "Targets:",
        "",
    ]
    for t, desc in report.TARGETS.items():
        if any(r["target"] == t for r in rows):
            lines.append(f"- `{t}`: {desc}")
    lines += [
        "",
        "Before each read phase the page cache is dropped (`echo 3 > /proc/sys/vm/drop_caches`, as root"
        + ("" if any(str(r["caches_dropped"]) == "True" for r in rows) else "; NOT done in this run: not root")
        + "). That empties the FUSE mounts' caches, but tmpfs data *is* page cache: native and "
        "bindfs reads (and the servers' chunk files) stay in memory, so read ratios compare "
        "against memory speed.",
        "",
        "How to read them: every server, client and FUSE daemon of a run shares this one "
        "machine's cores, so adding servers adds no hardware: the server counts show the cost "
        "of spreading requests, not scaling (use `deploy/` on a cluster for that). "
        + spread_note(rows, m),
        "",
        md_tables,
        scaling,
    ]
    if images:
        lines += [f"![{i}](img/{i})" for i in images] + [""]
    elif img_note:
        lines += [f"Plots not generated: {img_note}.", ""]
    if m["skipped"]:
        lines += ["Skipped in this run:", ""]
        lines += [f"- `{t}`: {why}" for t, why in m["skipped"].items()]
        lines.append("")
    return "\n".join(lines)


def spread_note(rows, m):
    """How much repetitions of one figure disagreed: the noise floor of this run."""
    groups = {}
    for r in rows:
        groups.setdefault((r["tool"], r["target"], r["workload"], r["servers"], r["procs"]), []).append(r["value"])
    spreads = sorted(max(v) / min(v) for v in groups.values() if len(v) > 1 and min(v) > 0)
    busy = f"The load average ({m['load_start']:.1f}) was above the core count: other work shared the CPUs. " \
        if m["load_start"] > (os.cpu_count() or 1) else ""
    if not spreads:
        return busy + "One repetition: no measure of noise; use --reps 3 for medians."
    med, p90 = spreads[len(spreads) // 2], spreads[int(0.9 * (len(spreads) - 1))]
    return (busy + f"Between repetitions, the fastest and slowest run of a figure differed by {med:.1f}× "
            f"(median over figures; 90th percentile {p90:.1f}×): treat smaller differences as noise.")


def load_rows(csv_path):
    import csv

    rows = []
    for r in csv.DictReader(open(csv_path)):
        r["servers"], r["procs"], r["rep"] = int(r["servers"]), int(r["procs"]), int(r["rep"])
        r["value"] = float(r["value"])
        rows.append(r)
    return rows


def publish(a, m, rows):
    """Prints the tables; writes the plots and the docs section (unless --no-docs)."""
    servers_shown = max(m["servers"])
    md = report.tables(rows, servers_shown)
    scaling = report.scaling_table(rows)
    print()
    print(md)
    print(scaling)
    for t, why in m["skipped"].items():
        print(f"skipped: {t}: {why}")
    if not a.no_docs:
        images, note = report.plots(rows, a.docs.parent / "img", servers_shown)
        if images:
            log(f"plots: {', '.join(str(a.docs.parent / 'img' / i) for i in images)}")
        else:
            log(f"plots skipped: {note}")
        report.update_docs(a.docs, section(m, rows, md, scaling, images, note))
        log(f"updated {a.docs}")


def main():
    a = parse_args()
    if a.report:
        # Report only: tables, plots and docs again from a saved run.
        meta = json.loads(a.report.with_suffix(".json").read_text())
        publish(a, meta, load_rows(a.report))
        return
    if a.driver is None or not a.driver.exists():
        sys.exit("bench: no driver binary: run bench/run.sh (it builds one) or pass --driver")
    for exe in ("benchfsd", "benchfs"):
        if not (a.bin / exe).exists():
            sys.exit(f"bench: {a.bin / exe} is missing: cargo build --release --workspace")
    b = Bench(a)
    log(f"run {b.run_id}: targets {','.join(a.targets)}; servers {a.servers}; procs {a.procs}; "
        f"{a.reps} rep(s); {a.block >> 20} MiB/proc, {a.rand_ops} random ops/proc, {a.files} files/proc")
    if not drop_caches():
        log("not root: page caches are not dropped before reads")
    try:
        b.run()
    finally:
        b.cleanup()
    csv_path = a.out / f"bench-{b.run_id}.csv"
    report.write_csv(csv_path, b.rows)
    meta = b.meta()
    csv_path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"CSV: {csv_path} (run description: {csv_path.with_suffix('.json')})")
    publish(a, meta, b.rows)
    failed = [t for t, why in b.skipped.items() if why.startswith("FAILED")]
    if failed:
        log(f"targets that failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
