"""The same builds on two revisions of the code, side by side: did a change make cinemart faster or slower?

Usage:  .venv/bin/python benchmarks/bench_revisions.py [--before REV] [--after REV]
        [--datasets small 5m] [--work DIR] [--once]

Each revision is checked out into its own git worktree under --work (the
working tree itself when --after is omitted) and built by real `cinemart build`
subprocesses whose PYTHONPATH points at that revision's package and whose
dbt project is that revision's. Per dataset: the first build of a revision is
*cold* (a fresh checkout has no numba cache, so the kernels compile), the next
one *warm*; `--once` builds each revision once per dataset (at 25M a
build takes minutes, and the warm pair says what a change does). The default --before, 1a4ac68, is the last commit before the
package was regrouped into sub-packages with one scorer and shared split
reads; the default --after is the working tree. `small` is
ml-latest-small (CINEMART_DATA_DIR); 1m / 5m / 25m are bench_scale's
synthetic sets (generated once, with the working tree's generator, so both
revisions read the same files). The last columns are after / before.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from bench_scale import ROOT, STAGES, BuildRun, dataset_folder, run_build

PRE_RESTRUCTURE = "1a4ac68"


def checkout(rev: str | None, work: Path) -> Path:
    """A worktree of `rev` under `work` (reused if present), or the working tree for None."""
    if rev is None:
        return ROOT
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    tree = work / f"rev-{sha}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT, check=True,
                       capture_output=True)
    return tree


def python_path(tree: Path, work: Path) -> str:
    """PYTHONPATH that makes `tree`'s package the one imported.

    The installed checkout registers the dbt plugin module dbt_cinemart_spark,
    which imports cinemart.spark; a revision from before the Spark engine has
    neither, so an empty plugin module shadows it there.
    """
    package = tree / "models_py"
    if (package / "dbt_cinemart_spark.py").exists():
        return str(package)
    shim = work / "no-spark-plugin"
    shim.mkdir(exist_ok=True)
    (shim / "dbt_cinemart_spark.py").write_text("plugins = []\n")
    return f"{package}{os.pathsep}{shim}"


def build(tree: Path, label: str, data: Path, work: Path) -> BuildRun:
    warehouse = work / f"warehouse-{label}"
    print(f"building {label} …", file=sys.stderr, flush=True)
    return run_build(["--from", str(data)], warehouse, work / f"build-{label}.log",
                     {"PYTHONPATH": python_path(tree, work)}, cwd=tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=PRE_RESTRUCTURE, help=f"the reference revision (default {PRE_RESTRUCTURE})")
    parser.add_argument("--after", default=None, help="the revision measured against it (default: the working tree)")
    parser.add_argument("--datasets", nargs="+", choices=["small", "1m", "5m", "25m"], default=["small", "5m"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cinemart-revisions"))
    parser.add_argument("--once", action="store_true", help="one build per revision and dataset (no warm repeat)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    trees = {"before": checkout(args.before, args.work), "after": checkout(args.after, args.work)}
    names = {"before": args.before, "after": args.after or "working tree"}

    rows: list[tuple[str, dict[str, BuildRun]]] = []
    for name in args.datasets:
        data = dataset_folder(args.work, name)
        # only the first builds of a checkout are cold
        phases = ["cold" if not rows else "warm"] if args.once else ["cold", "warm"] if not rows else ["warm"]
        for phase in phases:
            rows.append((f"{name} {phase}", {side: build(tree, f"{side}-{name}-{phase}", data, args.work)
                                             for side, tree in trees.items()}))

    print(f"\nwhole `cinemart build`: wall seconds / peak RSS (before = {names['before']}, after = {names['after']})")
    print(f"{'build':<14}{'before':>20}{'after':>20}{'time after/before':>19}{'RSS after/before':>18}")
    for label, runs in rows:
        b, a = runs["before"], runs["after"]
        print(f"{label:<14}" + "".join(f"{r.wall:9.1f}s {r.peak_kib / 2**20:6.2f} GiB" for r in (b, a))
              + f"{a.wall / b.wall:>18.2f}x{a.peak_kib / b.peak_kib:>17.2f}x")
    for label, runs in rows:
        print(f"\n{label}: node seconds per stage")
        stages = {side: run.stages() for side, run in runs.items()}
        for stage in [*STAGES, "data tests", "other"]:
            before, after = (stages[side].get(stage, (0.0, 0))[0] for side in ("before", "after"))
            ratio = f"{after / before:.2f}x" if before > 0 else "-"
            print(f"  {stage:<20}{before:>10.1f}s{after:>10.1f}s{ratio:>10}")


if __name__ == "__main__":
    main()
