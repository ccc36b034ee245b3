"""Runs the workloads: the driver's phases on P client processes, and IOR/mdtest.

A workload result is one dict: workload, value, unit, bytes, ops, seconds.
Bandwidth and rates are aggregates: everything the P processes moved, divided by the
span from the first process's start to the last one's end.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cluster import Skip, drop_caches

MIB = 1 << 20

# workload -> (driver phase, layout, unit)
WORKLOADS = {
    "seq-write-fpp": ("seq-write", "fpp", "MiB/s"),
    "seq-read-fpp": ("seq-read", "fpp", "MiB/s"),
    "seq-write-shared": ("seq-write", "shared", "MiB/s"),
    "seq-read-shared": ("seq-read", "shared", "MiB/s"),
    "rand-write-4k": ("rand-write", "fpp", "ops/s"),
    "rand-read-4k": ("rand-read", "fpp", "ops/s"),
    "create": ("create", "fpp", "ops/s"),
    "stat": ("stat", "fpp", "ops/s"),
    "remove": ("remove", "fpp", "ops/s"),
}
# Workloads after which the page cache is dropped (the next one reads).
DROP_BEFORE = {"seq-read-fpp", "seq-read-shared", "rand-read-4k"}


class Sizes:
    def __init__(self, block, rand_ops, files):
        self.block, self.rand_ops, self.files = block, rand_ops, files


class DriverRun:
    """The driver on one access path: `api` posix/client/capi, `root` a directory
    (posix) or a BenchFS path (client, capi), `registry` for the BenchFS paths."""

    def __init__(self, driver: Path, api: str, root: str, registry=None, timeout=600):
        self.driver, self.api, self.root, self.registry, self.timeout = driver, api, root, registry, timeout

    def _args(self, phase, layout, rank, nprocs, sizes, xfer):
        a = [str(self.driver), "--api", self.api, "--root", self.root, "--phase", phase, "--layout", layout,
             "--rank", str(rank), "--nprocs", str(nprocs), "--block", str(sizes.block), "--xfer", str(xfer),
             "--ops", str(sizes.rand_ops), "--files", str(sizes.files), "--seed", str(rank + 1)]
        if self.registry:
            a += ["--registry", str(self.registry)]
        return a

    def phase(self, phase, layout, nprocs, sizes, xfer=MIB):
        """Runs one phase on `nprocs` processes started together; returns the spans."""
        procs = []
        try:
            for r in range(nprocs):
                procs.append(subprocess.Popen(self._args(phase, layout, r, nprocs, sizes, xfer),
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True))
            for p in procs:
                line = p.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"driver did not start ({phase}): {line} {p.stderr.read()}")
            for p in procs:  # the start barrier
                p.stdin.write("go\n")
                p.stdin.flush()
            results = []
            for p in procs:
                out, err = p.communicate(timeout=self.timeout)
                if p.returncode != 0:
                    raise RuntimeError(f"driver {self.api} {phase} failed: {err.strip()}")
                results.append(json.loads(out.strip().splitlines()[-1]))
            return results
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def single(self, phase, nprocs, sizes):
        """A set-up or clean-up step on one process, not timed."""
        a = self._args(phase, "fpp", 0, nprocs, sizes, MIB) + ["--no-wait"]
        r = subprocess.run(a, capture_output=True, text=True, timeout=self.timeout)
        if r.returncode != 0:
            raise RuntimeError(f"driver {self.api} {phase} failed: {r.stderr.strip()}")


def aggregate(workload, results):
    phase, _, unit = WORKLOADS[workload]
    span = (max(r["end_ns"] for r in results) - min(r["start_ns"] for r in results)) / 1e9
    nbytes = sum(r["bytes"] for r in results)
    ops = sum(r["ops"] for r in results)
    value = nbytes / MIB / span if unit == "MiB/s" else ops / span
    return {"workload": workload, "value": value, "unit": unit, "bytes": nbytes, "ops": ops, "seconds": span}


def run_driver_case(run: DriverRun, nprocs, sizes, workloads):
    """All workloads of one (target, servers, procs) case, in dependency order:
    fpp write, read, random write and read on those files; shared write and read;
    create, stat, remove. Yields result dicts (with `dropped`: caches were dropped)."""
    run.single("clean", nprocs, sizes)
    run.single("mkdir", nprocs, sizes)
    try:
        for w in ["seq-write-fpp", "seq-read-fpp", "rand-write-4k", "rand-read-4k",
                  "seq-write-shared", "seq-read-shared", "create", "stat", "remove"]:
            phase, layout, _ = WORKLOADS[w]
            dropped = drop_caches() if w in DROP_BEFORE else None
            xfer = 4096 if w.startswith("rand") else MIB
            res = aggregate(w, run.phase(phase, layout, nprocs, sizes, xfer))
            res["dropped"] = dropped
            if w in workloads:
                yield res
    finally:
        run.single("clean", nprocs, sizes)


# --- IOR and mdtest -------------------------------------------------------------------

def mpirun_prefix(nprocs):
    if shutil.which("mpirun") is None:
        return None
    cmd = ["mpirun", "-np", str(nprocs)]
    if os.geteuid() == 0:
        cmd += ["--allow-run-as-root", "--oversubscribe"]
    return cmd


def ior_has_benchfs(ior: str) -> bool:
    r = subprocess.run([ior, "-h"], capture_output=True, text=True)
    return re.search(r"API for I/O .*[\[|]BENCHFS[\]|]", r.stdout + r.stderr) is not None


class IorRun:
    """IOR (and mdtest, when given) with `api` POSIX on a directory or BENCHFS on a registry."""

    def __init__(self, ior, mdtest, api, root, registry=None, timeout=600):
        self.ior, self.mdtest, self.api, self.root, self.registry = ior, mdtest, api, root, registry
        self.timeout = timeout

    def _backend(self):
        if self.api == "BENCHFS":
            return ["-a", "BENCHFS", f"--benchfs.registry={self.registry}"]
        return ["-a", "POSIX"]

    def _run(self, nprocs, args):
        pre = mpirun_prefix(nprocs)
        if pre is None:
            if nprocs != 1:
                raise Skip("mpirun is missing (apt-get install openmpi-bin)")
            pre = []
        r = subprocess.run(pre + args, capture_output=True, text=True, timeout=self.timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])} failed:\n{(r.stdout + r.stderr)[-1500:]}")
        return r.stdout

    def ior_case(self, nprocs, sizes, name, extra, unit):
        with tempfile.NamedTemporaryFile(suffix=".json") as js:
            args = [self.ior, *self._backend(), "-w", "-r", "-e", "-i", "1", "-o", f"{self.root}/ior.{name}",
                    "-O", "summaryFormat=JSON", "-O", f"summaryFile={js.name}", *extra]
            drop_caches()
            self._run(nprocs, args)
            summary = json.load(open(js.name))["summary"]
        out = []
        for s in summary:
            op = s["operation"]
            kind = {"write": "write", "read": "read"}[op]
            value = s["bwMeanMIB"] if unit == "MiB/s" else s["OPsMean"]
            out.append({"workload": name.replace("OP", kind), "value": value, "unit": unit,
                        "bytes": int(s["xsizeMiB"] * MIB), "ops": 0, "seconds": s["MeanTime"], "dropped": None})
        return out

    def cases(self, nprocs, sizes, workloads):
        """IOR's write-then-read runs; IOR drops no caches between its phases itself, so
        -C (read another rank's data) keeps reads honest with more than one process."""
        block = str(sizes.block)
        reorder = ["-C"] if nprocs > 1 else []
        runs = [("seq-OP-fpp", ["-F", "-t", "1m", "-b", block, *reorder], "MiB/s"),
                ("seq-OP-shared", ["-t", "1m", "-b", block, *reorder], "MiB/s"),
                ("rand-OP-4k", ["-F", "-z", "-t", "4k", "-b", str(sizes.rand_ops * 4096), *reorder], "ops/s")]
        for name, extra, unit in runs:
            for r in self.ior_case(nprocs, sizes, name, extra, unit):
                if r["workload"] in workloads:
                    yield r
        if self.mdtest and {"create", "stat", "remove"} & set(workloads):
            yield from self.mdtest_case(nprocs, sizes, workloads)

    def mdtest_case(self, nprocs, sizes, workloads):
        args = [self.mdtest, *self._backend(), "-F", "-n", str(sizes.files), "-i", "1", "-d", f"{self.root}/mdtest"]
        text = self._run(nprocs, args)
        names = {"File creation": "create", "File stat": "stat", "File removal": "remove"}
        for line in text.splitlines():
            m = re.match(r"\s*(File creation|File stat|File removal)\s*:?\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
            if m and names[m.group(1)] in workloads:
                # mdtest's summary: max, min, mean of the rate over iterations.
                yield {"workload": names[m.group(1)], "value": float(m.group(4)), "unit": "ops/s", "bytes": 0,
                       "ops": sizes.files * nprocs, "seconds": 0.0, "dropped": None}
