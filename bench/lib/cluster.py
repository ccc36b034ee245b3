"""Things the benchmark runs against: BenchFS servers, FUSE mounts, bindfs.

Every object here is a context manager that undoes what it did (stops servers,
unmounts, deletes data) even when the benchmark fails half-way.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class Skip(Exception):
    """A target cannot run on this machine; the message says why."""


def log(msg):
    print(f"bench: {msg}", flush=True)


class Cluster:
    """`n` benchfsd on 127.0.0.1 (port 0), data on tmpfs, one registry."""

    def __init__(self, bin_dir: Path, n: int, base: Path, threads=None):
        self.bin_dir, self.n, self.threads = bin_dir, n, threads
        self.dir = Path(tempfile.mkdtemp(prefix=f"cluster{n}-", dir=base))
        self.registry = self.dir / "registry"
        self.procs = []
        self.addrs = []

    def __enter__(self):
        try:
            for i in range(self.n):
                self._start(i)
            out = subprocess.run(
                [str(self.bin_dir / "benchfs"), "--registry", str(self.registry), "status"],
                capture_output=True, text=True, timeout=30,
            )
            if out.returncode != 0:
                raise RuntimeError(f"benchfs status failed:\n{out.stdout}{out.stderr}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self, i):
        args = [str(self.bin_dir / "benchfsd"), "--listen", "127.0.0.1:0",
                "--data-dir", str(self.dir / f"s{i}"), "--registry", str(self.registry)]
        if self.threads:
            args += ["--threads", str(self.threads)]
        logf = open(self.dir / f"s{i}.log", "wb")
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL,
                             env={**os.environ, "RUST_LOG": "warn"})
        logf.close()
        self.procs.append(p)
        line = p.stdout.readline().decode().strip()
        if not line.startswith("benchfsd listening on "):
            raise RuntimeError(f"benchfsd {i} did not start: {(self.dir / f's{i}.log').read_text()}")
        self.addrs.append(line.rsplit(" ", 1)[1])

    def peak_rss_mib(self):
        out = []
        for p in self.procs:
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out.append(int(line.split()[1]) / 1024)
            except OSError:
                pass
        return out

    def __exit__(self, *exc):
        stop_all(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def stop_all(procs, grace=20):
    """SIGTERM to every process still running, then waits; SIGKILL after `grace` seconds."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def is_mounted(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


def unmount(path: Path):
    for _ in range(20):
        if not is_mounted(path):
            return
        subprocess.run(["fusermount3", "-u", str(path)], capture_output=True)
        if is_mounted(path):
            subprocess.run(["umount", str(path)], capture_output=True)
            time.sleep(0.25)
    subprocess.run(["fusermount3", "-uz", str(path)], capture_output=True)


def fuse_available():
    if not os.path.exists("/dev/fuse"):
        raise Skip("/dev/fuse is missing")
    if shutil.which("fusermount3") is None:
        raise Skip("fusermount3 is missing (apt-get install fuse3)")


class FuseMount:
    """`benchfs-fuse --registry REG [args] MNT`; it returns once the mount is live."""

    def __init__(self, bin_dir: Path, registry: Path, base: Path, extra=()):
        exe = bin_dir / "benchfs-fuse"
        if not exe.exists():
            raise Skip(f"{exe} is not built (cargo build --release --workspace)")
        fuse_available()
        self.exe, self.registry, self.extra = exe, registry, list(extra)
        self.mnt = Path(tempfile.mkdtemp(prefix="fuse-", dir=base))

    def __enter__(self):
        r = subprocess.run([str(self.exe), "--registry", str(self.registry), *self.extra, str(self.mnt)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not is_mounted(self.mnt):
            unmount(self.mnt)
            raise Skip(f"benchfs-fuse could not mount: {r.stderr.strip()[-500:]}")
        return self

    def __exit__(self, *exc):
        unmount(self.mnt)
        shutil.rmtree(self.mnt, ignore_errors=True)
        return False


class Bindfs:
    """bindfs (a passthrough FUSE file system) over a tmpfs directory: FUSE's own cost."""

    def __init__(self, base: Path):
        if shutil.which("bindfs") is None:
            raise Skip("bindfs is not installed (apt-get install bindfs)")
        fuse_available()
        self.src = Path(tempfile.mkdtemp(prefix="bindfs-src-", dir=base))
        self.mnt = Path(tempfile.mkdtemp(prefix="bindfs-", dir=base))

    def __enter__(self):
        r = subprocess.run(["bindfs", str(self.src), str(self.mnt)], capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not is_mounted(self.mnt):
            self.__exit__()
            raise Skip(f"bindfs could not mount: {r.stderr.strip()}")
        return self

    def __exit__(self, *exc):
        unmount(self.mnt)
        shutil.rmtree(self.mnt, ignore_errors=True)
        shutil.rmtree(self.src, ignore_errors=True)
        return False


def drop_caches() -> bool:
    """Writes back and drops the page cache, dentries and inodes (root only).

    tmpfs pages are the file system itself, so native tmpfs data stays in memory."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False
