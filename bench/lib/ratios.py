"""Medians of repeated benchmark lines and their ratios, as the shell benches print them.

    ratios.py FILE TITLE COLUMNS PREFIX BASE...

FILE holds one line per measurement: a label and one value per column, tab-separated.
Prints the median of each label's values, then, for each label starting with PREFIX, its
ratio to each BASE. A BASE ending in ", *" stands for the label with the same text after
its first ", " (e.g. "C API, *" for "mount, shared file" is "C API, shared file").
"""

import statistics
import sys


def main(path, title, columns, prefix, *bases):
    columns = columns.split(",")
    rows = {}
    for line in open(path):
        label, *values = line.rstrip("\n").split("\t")
        rows.setdefault(label, []).append([float(v or 0) for v in values])
    med = {label: [statistics.median(col) for col in zip(*v)] for label, v in rows.items()}
    width = max(map(len, med)) + 2
    print(f"\n{title + ' medians':<{width}}" + "".join(f"{c:>11}" for c in columns))
    for label, m in med.items():
        print(f"{label:<{width}}" + "".join(f"{x:>11.0f}" for x in m))
    lines = []
    for label, m in med.items():
        if not label.startswith(prefix):
            continue
        for base in bases:
            name = base.removesuffix(", *")
            if base.endswith(", *"):
                base = f"{name}, {label.split(', ', 1)[-1]}"
            b = med.get(base)
            if b:
                lines.append((f"{label} / {name}", [f"{x / y:.2f}" if y else "n/a" for x, y in zip(m, b)]))
    width = max([len(t) for t, _ in lines] + [width]) + 2
    print(f"\n{title + ' ratios (median / median)':<{width}}" + "".join(f"{c:>11}" for c in columns))
    for text, ratios in lines:
        print(f"{text:<{width}}" + "".join(f"{r:>11}" for r in ratios))

if __name__ == "__main__":
    main(*sys.argv[1:])
