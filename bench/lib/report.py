"""Turns the result rows into a CSV, Markdown tables (with ratios to native), PNG plots
and the generated section of docs/benchmarks.md."""

import csv
import statistics
from collections import defaultdict
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

CSV_FIELDS = ["run", "tool", "target", "workload", "servers", "procs", "rep", "value", "unit",
              "bytes", "ops", "seconds", "caches_dropped"]

# Display order and descriptions of the targets.
TARGETS = {
    "native": "tmpfs through the kernel (the baseline)",
    "bindfs": "bindfs over tmpfs: a passthrough FUSE file system, FUSE's own cost",
    "client": "BenchFS, async Rust client (`benchfs::Client`)",
    "capi": "BenchFS, C API (`benchfs_write`, ...)",
    "fuse": "BenchFS, FUSE mount (`benchfs-fuse`)",
    "fuse-dio": "BenchFS, FUSE mount with `--direct-io`",
    "ior-native": "IOR/mdtest `-a POSIX` on tmpfs (IOR's baseline)",
    "ior-capi": "IOR/mdtest `-a BENCHFS` (C API)",
    "ior-fuse": "IOR/mdtest `-a POSIX` on the BenchFS FUSE mount",
}
WORKLOAD_ORDER = ["seq-write-fpp", "seq-read-fpp", "seq-write-shared", "seq-read-shared",
                  "rand-write-4k", "rand-read-4k", "create", "stat", "remove"]
NO_SERVERS = {"native", "bindfs", "ior-native"}
# One colour per target in every plot.
COLORS = {"native": "#222222", "bindfs": "#999999", "client": "#1f77b4", "capi": "#d62728", "fuse": "#2ca02c",
          "fuse-dio": "#98df8a", "ior-native": "#8c564b", "ior-capi": "#ff7f0e", "ior-fuse": "#9467bd"}


def write_csv(path: Path, rows, fields=CSV_FIELDS):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})


def medians(rows):
    """(tool, target, workload, servers, procs) -> (median value, unit)."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["tool"], r["target"], r["workload"], r["servers"], r["procs"])].append(r)
    return {k: (statistics.median(x["value"] for x in v), v[0]["unit"]) for k, v in groups.items()}


def fmt(v, unit):
    if unit == "MiB/s":
        return f"{v:,.0f} MiB/s" if v >= 100 else f"{v:,.1f} MiB/s"
    return f"{v / 1000:,.1f}k/s" if v >= 1000 else f"{v:,.0f}/s"


def ratio_str(r):
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"


def baseline_of(target):
    return "ior-native" if target.startswith("ior-") else "native"


def tables(rows, servers_shown):
    """Markdown: per process count, workload x target at `servers_shown` servers, each
    cell the median and its ratio to native (same tool, same process count)."""
    med = medians(rows)
    targets = [t for t in TARGETS if any(r["target"] == t for r in rows)]
    procs = sorted({r["procs"] for r in rows})
    out = []
    for p in procs:
        out.append(f"**{p} client process{'es' if p > 1 else ''}**, BenchFS on {servers_shown} "
                   f"server{'s' if servers_shown > 1 else ''} (median; × = ratio to native of the same tool)\n")
        out.append("| workload | " + " | ".join(targets) + " |")
        out.append("|---|" + "---:|" * len(targets))
        for w in WORKLOAD_ORDER:
            cells, any_cell = [], False
            for t in targets:
                tool = "ior" if t.startswith("ior-") else "driver"
                s = 0 if t in NO_SERVERS else servers_shown
                m = med.get((tool, t, w, s, p))
                if m is None:
                    cells.append("—")
                    continue
                any_cell = True
                base = med.get((tool, baseline_of(t), w, 0, p))
                ratio = f" ({ratio_str(m[0] / base[0])})" if base and t != baseline_of(t) and base[0] > 0 else ""
                cells.append(fmt(m[0], m[1]) + ratio)
            if any_cell:
                out.append(f"| {w} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def scaling_table(rows):
    """Markdown: how each BenchFS target scales with the number of servers."""
    med = medians(rows)
    servers = sorted({r["servers"] for r in rows if r["servers"] > 0})
    if len(servers) < 2:
        return ""
    procs = max(r["procs"] for r in rows)
    out = [f"**Scaling with servers** ({procs} client processes; median)\n",
           "| target | workload | " + " | ".join(f"{s} srv" for s in servers) + " |",
           "|---|---|" + "---:|" * len(servers)]
    for t in TARGETS:
        if t in NO_SERVERS:
            continue
        tool = "ior" if t.startswith("ior-") else "driver"
        for w in ["seq-write-fpp", "seq-read-fpp", "rand-read-4k", "create"]:
            vals = [med.get((tool, t, w, s, procs)) for s in servers]
            if all(v is None for v in vals):
                continue
            out.append(f"| {t} | {w} | " + " | ".join(fmt(*v) if v else "—" for v in vals) + " |")
    out.append("")
    return "\n".join(out)


def plots(rows, img_dir: Path, servers_shown):
    """PNG plots; returns the file names written, or a reason they were not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None, "matplotlib is not installed (pip install matplotlib, or apt-get install python3-matplotlib)"
    img_dir.mkdir(parents=True, exist_ok=True)
    med = medians(rows)
    targets = [t for t in TARGETS if any(r["target"] == t for r in rows)]
    procs = sorted({r["procs"] for r in rows})
    files = []

    def bars(fname, workloads, unit, title, log=False):
        fig, axes = plt.subplots(1, len(procs), figsize=(6 * len(procs), 4.2), squeeze=False)
        for ax, p in zip(axes[0], procs):
            width = 0.8 / max(1, len(targets))
            for i, t in enumerate(targets):
                tool = "ior" if t.startswith("ior-") else "driver"
                s = 0 if t in NO_SERVERS else servers_shown
                ys = [med.get((tool, t, w, s, p), (0, unit))[0] for w in workloads]
                ax.bar([x + i * width for x in range(len(workloads))], ys, width, label=t, color=COLORS.get(t))
            ax.set_xticks([x + 0.4 - width / 2 for x in range(len(workloads))])
            ax.set_xticklabels(workloads, rotation=20, ha="right", fontsize=8)
            ax.set_ylabel(unit)
            if log:
                ax.set_yscale("log")
            ax.set_title(f"{title}, {p} process{'es' if p > 1 else ''}, {servers_shown} server(s)", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        axes[0][-1].legend(fontsize=7, loc="best")
        fig.tight_layout()
        fig.savefig(img_dir / fname, dpi=110)
        plt.close(fig)
        files.append(fname)

    bars("bench-bandwidth.png", [w for w in WORKLOAD_ORDER if w.startswith("seq")], "MiB/s", "Bandwidth")
    bars("bench-ops.png", ["rand-write-4k", "rand-read-4k", "create", "stat", "remove"], "ops/s",
         "Operations", log=True)

    servers = sorted({r["servers"] for r in rows if r["servers"] > 0})
    if servers:
        # One row per process count, one column per workload; BenchFS targets as lines
        # over the server count, the baselines (no servers) as dashed levels.
        ws = ["seq-write-fpp", "seq-read-fpp", "rand-read-4k", "create"]
        fig, axes = plt.subplots(len(procs), len(ws), figsize=(4.2 * len(ws), 3.2 * len(procs)), squeeze=False)
        for row, p in zip(axes, procs):
            for ax, w in zip(row, ws):
                unit = "MiB/s" if w.startswith("seq") else "ops/s"
                for t in targets:
                    tool = "ior" if t.startswith("ior-") else "driver"
                    if t in NO_SERVERS:
                        m = med.get((tool, t, w, 0, p))
                        if m:
                            ax.axhline(m[0], linestyle="--", linewidth=1, color=COLORS.get(t), label=t)
                        continue
                    pts = [(sv, med[(tool, t, w, sv, p)][0]) for sv in servers if (tool, t, w, sv, p) in med]
                    if pts:
                        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", color=COLORS.get(t), label=t)
                ax.set_title(f"{w}, {p} process{'es' if p > 1 else ''}", fontsize=9)
                ax.set_xlabel("servers")
                ax.set_xticks(servers)
                ax.set_ylabel(unit)
                ax.set_yscale("log")
                ax.grid(alpha=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 9), fontsize=8)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        fig.savefig(img_dir / "bench-scaling.png", dpi=110)
        plt.close(fig)
        files.append("bench-scaling.png")
    return files, None


def update_docs(doc: Path, section: str, markers=(BEGIN, END), title="# Benchmarks"):
    """Replaces the text between the markers in `doc` (created with them if absent)."""
    begin, end = markers
    if doc.exists():
        text = doc.read_text()
    else:
        text = title + "\n\n" + begin + "\n" + end + "\n"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + "\n\n" + begin + "\n" + end + "\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(head + begin + "\n" + section.strip("\n") + "\n" + end + tail)
