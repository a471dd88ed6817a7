"""The lineage benchmark: audits of one very wide and one very deep lineage.

``wide`` is one model with N-1 direct parents, ``chain`` is N models each derived from the one
before (bench/generate.py --shape). Each size is generated (cached under bench/out/), imported
into a fresh SQLite file and audited with the shipped policy library, one worker, as a
separate process; wall time and peak RSS are measured as in bench/run.py. Sizes of one shape
run interleaved with the other's, and the median of --repeats runs is reported. This is a
benchmark, not a test: nothing here asserts a time.

    python bench/lineage.py                                  # wide 1k/3k/10k, chain 300/1k
    python bench/lineage.py --wide 1000 3000 --chain 300
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from run import AS_OF, OUT, measure  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent


def registry(shape: str, models: int, seed: int) -> Path:
    generator = hashlib.sha256((HERE / "generate.py").read_bytes()).hexdigest()[:8]
    folder = OUT / f"lineage-{shape}-{models}-seed{seed}-{generator}"
    if not (folder / ".complete").exists():
        from generate import SHAPES, write  # type: ignore[import-not-found]

        write(SHAPES[shape](models, seed), folder)
        (folder / ".complete").write_text("")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wide", type=int, nargs="*", default=[1000, 3000, 10_000])
    parser.add_argument("--chain", type=int, nargs="*", default=[300, 1000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    cases = [("wide", n) for n in args.wide] + [("chain", n) for n in args.chain]
    urls = {}
    for shape, models in cases:
        db = OUT / f"lineage-{shape}-{models}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        urls[(shape, models)] = f"sqlite:///{db}"
        print(f"{shape} {models}: importing ...", file=sys.stderr)
        imported = measure(
            ["registry", "import", "--db", urls[(shape, models)], str(registry(shape, models, 7))]
        )
        if imported["code"] != 0:
            raise SystemExit(f"import of {shape} {models} failed (exit {imported['code']})")
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {case: [] for case in cases}
    for repeat in range(args.repeats):
        for case in cases:  # interleaved: a noisy minute hits every case alike
            print(f"{case[0]} {case[1]}: audit {repeat + 1}/{args.repeats} ...", file=sys.stderr)
            command = ["audit", "--db", urls[case], "--as-of", AS_OF, "--quiet", "--no-record"]
            out = OUT / f"lineage-{case[0]}-{case[1]}.json"
            runs[case].append(measure([*command, "--format", "json", "-o", str(out)]))
    results = []
    for (shape, models), measured in runs.items():
        walls = sorted(r["wall"] for r in measured)
        results.append(
            {
                "shape": shape,
                "models": models,
                "exit_codes": sorted({r["code"] for r in measured}),
                "median_seconds": statistics.median(walls),
                "walls": walls,
                "peak_rss_mb": max(r["max_process_rss_kb"] for r in measured) / 1024,
            }
        )
    (OUT / "lineage-results.json").write_text(json.dumps(results, indent=2))
    print("| shape | models | audit s (median) | ms/model | peak RSS MB | exit |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['shape']} | {r['models']:,} | {r['median_seconds']:.1f} "
            f"| {1000 * r['median_seconds'] / r['models']:.1f} | {r['peak_rss_mb']:.0f} "
            f"| {r['exit_codes']} |"
        )


if __name__ == "__main__":
    main()
