"""The aigov benchmark: import, audit and gate on synthetic registries of growing size.

For each size N (default 1k, 10k, 100k models) it generates the registry (bench/generate.py,
cached under bench/out/), imports it into a fresh SQLite file, audits it with the shipped
policy library for each --workers value, and finally times the gate as a cold CLI process on
the largest registry. Every measurement runs `aigov` as a separate process:

* wall time: time.perf_counter around the process;
* peak RSS: the largest single process (ru_maxrss of the process tree, from the OS) and the
  peak of the whole tree (VmRSS of every process in it, summed, sampled every 50 ms) - with
  --workers N the tree is the parent plus N workers.

It prints a Markdown table (pasted into docs/scale.md) and writes bench/out/results.json.
This is a benchmark, not a test: nothing here asserts a time.

    python bench/run.py                       # 1k, 10k, 100k; workers 1 and 2
    python bench/run.py --sizes 1000 10000    # quicker
    python bench/run.py --dask                # also --executor dask on two local workers
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
AS_OF = "2025-06-01"
TARGETS = {
    "audit_100k_seconds": 60,
    "peak_rss_mb": 500,
    "per_model_ratio_100k_vs_10k": 1.3,
    "gate_cold_seconds": 1.5,
    "import_records_per_second": 10_000,
}


def aigov() -> str:
    beside = Path(sys.executable).parent / "aigov"
    return str(beside) if beside.exists() else shutil.which("aigov") or "aigov"


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over ``root`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def measure(args: list[str]) -> dict[str, Any]:
    """Run ``aigov ARGS`` in a fresh wrapper process and measure it."""
    wrapper = (
        "import resource, subprocess, sys, json, time\n"
        "start = time.perf_counter()\n"
        "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "wall = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'code': code, 'wall': wall, 'max_process_rss_kb': rss}))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", wrapper, aigov(), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    done.set()
    sampler.join()
    result = json.loads(stdout.strip().splitlines()[-1])
    result["tree_rss_kb"] = peak
    return result


def registry_files(models: int, seed: int) -> tuple[Path, int]:
    """The generated registry, reused while generate.py is unchanged."""
    generator = hashlib.sha256((HERE / "generate.py").read_bytes()).hexdigest()[:8]
    folder = OUT / f"registry-{models}-seed{seed}-{generator}"
    marker = folder / ".complete"
    if not marker.exists():
        sys.path.insert(0, str(HERE))
        from generate import generate, write  # type: ignore[import-not-found]

        count = write(generate(models, seed), folder)
        marker.write_text(str(count))
    return folder, int(marker.read_text())


def git_commit() -> str:
    try:
        commit = subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True
        ).strip()
        dirty = subprocess.call(
            ["git", "diff", "--quiet", "HEAD", "--", "engine", "reports", "policies"], cwd=ROOT
        )
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--dask",
        action="store_true",
        help="also audit with --executor dask on a LocalCluster of two workers (aigov-rules[dask])",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gate-repeats", type=int, default=5)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="audit runs per size up to 10,000 models (the median is reported); larger: one",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "as_of": AS_OF,
        "repeats": args.repeats,
        "targets": TARGETS,
        "sizes": [],
    }
    for size in args.sizes:
        files, records = registry_files(size, args.seed)
        db = OUT / f"bench-{size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        print(f"N={size}: importing {records} records ...", file=sys.stderr)
        imported = measure(["registry", "import", "--db", url, str(files)])
        entry: dict[str, Any] = {
            "models": size,
            "records": records,
            "import": {**imported, "records_per_second": records / imported["wall"]},
            "audits": [],
        }
        repeats = args.repeats if size <= 10_000 else 1
        runs_of: list[tuple[str, list[str]]] = [
            (str(workers), ["--workers", str(workers)]) for workers in args.workers
        ]
        if args.dask:
            runs_of.append(("dask 2", ["--executor", "dask", "--workers", "2"]))
        for label, how in runs_of:
            print(f"N={size}: audit {' '.join(how)} x{repeats} ...", file=sys.stderr)
            out = OUT / f"audit-{size}-{label.replace(' ', '-')}.json"
            command = [
                "audit",
                "--db",
                url,
                "--as-of",
                AS_OF,
                "--quiet",
                "--no-record",
                *how,
                "--format",
                "json",
                "-o",
                str(out),
            ]
            runs = sorted((measure(command) for _ in range(repeats)), key=lambda r: r["wall"])
            audited = {**runs[len(runs) // 2], "walls": [r["wall"] for r in runs]}  # the median
            audited.update(
                workers=label,
                models_per_second=size / audited["wall"],
                ms_per_model=1000 * audited["wall"] / size,
                json_bytes=out.stat().st_size if out.exists() else None,
            )
            entry["audits"].append(audited)
        outputs = [OUT / f"audit-{size}-{label.replace(' ', '-')}.json" for label, _ in runs_of]
        entry["workers_output_identical"] = len({o.read_bytes() for o in outputs}) == 1
        results["sizes"].append(entry)
        with open(OUT / "results.json", "w") as handle:
            json.dump(results, handle, indent=2)

    largest = max(results["sizes"], key=lambda entry: entry["models"])
    biggest = largest["models"]
    url = f"sqlite:///{OUT / f'bench-{biggest}.db'}"
    model = f"model-{largest['models'] // 2:06d}"
    gates = []
    for _ in range(args.gate_repeats):
        gated = measure(
            [
                "gate",
                model,
                "--platform",
                "azure-ai-foundry",
                "--region",
                "eastus",
                "--environment",
                "prod",
                "--db",
                url,
                "--as-of",
                AS_OF,
            ]
        )
        gates.append(gated)
    results["gate"] = {
        "models_in_registry": largest["models"],
        "model": model,
        "runs": gates,
        "median_seconds": statistics.median(g["wall"] for g in gates),
        "exit_codes": sorted({g["code"] for g in gates}),
    }
    with open(OUT / "results.json", "w") as handle:
        json.dump(results, handle, indent=2)
    print(table(results))


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Commit `{results['commit']}`, {results['date']}, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}; shipped policy library; as of {results['as_of']}; "
        f"audits: median of {results['repeats']} runs per size up to 10,000 models"
        + (", one run above." if max(e["models"] for e in results["sizes"]) > 10_000 else "."),
        "",
        "| models | records | import s (rec/s) | workers | audit s | models/s | ms/model "
        "| peak RSS, largest process MB | peak RSS, all processes MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results["sizes"]:
        imp = entry["import"]
        for index, audit in enumerate(entry["audits"]):
            first = index == 0
            lines.append(
                f"| {entry['models'] if first else ''} | {entry['records'] if first else ''} | "
                + (f"{imp['wall']:.1f} ({imp['records_per_second']:,.0f})" if first else "")
                + f" | {audit['workers']} | {audit['wall']:.1f} | {audit['models_per_second']:,.0f}"
                f" | {audit['ms_per_model']:.2f} | {audit['max_process_rss_kb'] / 1024:.0f}"
                f" | {audit['tree_rss_kb'] / 1024:.0f} |"
            )
    gate = results.get("gate")
    if gate:
        lines += [
            "",
            f"Gate, cold CLI process, on the {gate['models_in_registry']:,}-model registry: "
            f"median {gate['median_seconds']:.2f} s of {len(gate['runs'])} runs "
            f"(exit codes {gate['exit_codes']}).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
