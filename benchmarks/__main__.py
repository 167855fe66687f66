"""``python -m benchmarks`` (``make bench``): run every figure, print one line each, write latest.json.

Options: ``--quick`` (shorter runs, for trying the harness), ``--only NAME`` (repeatable; a module
such as ``today_latency`` or a figure such as ``today-latency``), ``--out PATH``. A full run writes
``benchmarks/results/latest.json``; a quick or partial one writes ``latest-partial.json`` so that it
never overwrites the last full run. Each server's log is kept as ``results/server-<figure>.log``.
Set ``BENCH_LOADGEN=aiohttp`` to use the Python load generator even when wrk is installed.

The exit status is 0 whenever every benchmark ran, whatever the numbers: these are measurements,
not tests. It is 1 only when a benchmark itself could not run (the error is printed and recorded).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from benchmarks import (
    checkin_throughput,
    delivery,
    lighthouse,
    memory,
    questionnaire_latency,
    rule_evaluation,
    today_latency,
    workspace_latency,
)
from benchmarks.harness import RESULTS_DIR, Figure, python_speed_ms, write_results, wrk_path

MODULES = {
    "checkin_throughput": (checkin_throughput, [checkin_throughput.NAME, checkin_throughput.HEALTHZ_NAME]),
    "today_latency": (today_latency, [today_latency.NAME]),
    "memory": (memory, [memory.NAME]),
    "questionnaire_latency": (questionnaire_latency, [questionnaire_latency.NAME]),
    "rule_evaluation": (rule_evaluation, rule_evaluation.NAMES),
    "lighthouse": (lighthouse, [lighthouse.NAME]),
    "workspace_latency": (workspace_latency, workspace_latency.NAMES),
    "delivery": (delivery, delivery.NAMES),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (numbers are rougher)")
    parser.add_argument("--only", action="append", default=[], help="run only this figure (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    args = parser.parse_args(argv)

    selected = [
        key
        for key, (_module, names) in MODULES.items()
        if not args.only
        or any(choice.replace("-", "_") in (key, *(n.replace("-", "_") for n in names)) for choice in args.only)
    ]
    if not selected:
        parser.error(f"--only: choose from {', '.join(MODULES)}")

    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if wrk_path():
        generator = "wrk"
    elif os.environ.get("BENCH_LOADGEN", "").lower() == "aiohttp":
        generator = "asyncio/aiohttp (BENCH_LOADGEN=aiohttp)"
    else:
        generator = "asyncio/aiohttp (wrk is not installed; `apt-get install wrk` gives firmer numbers)"
    print(
        f"Companion benchmarks: {cpus} CPUs, load average {load:.1f}, load generator for throughput: {generator}; "
        f"Python speed {python_speed_ms()} ms for 3 million additions (machines differ: compare with this)",
        flush=True,
    )
    if load > cpus * 0.5:
        print("note: the machine is busy with other work; figures will be pessimistic", flush=True)

    figures: list[Figure] = []
    failed = False
    for key in selected:
        module, names = MODULES[key]
        started = time.monotonic()
        load_before = os.getloadavg()[0]
        try:
            results = module.run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            failed = True
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            traceback.print_exc(file=sys.stderr)
            results = [
                Figure(name=name, summary=f"{name}: ERROR {detail.splitlines()[0]}", target="", method="", error=detail)
                for name in names
            ]
        for figure in results:
            figure.values.setdefault("wall_seconds", round(time.monotonic() - started, 1))
            # Other work on the machine (a test suite, say) slows every figure: keep it on record.
            figure.values.setdefault("load_average_1m", [round(load_before, 2), round(os.getloadavg()[0], 2)])
            print(figure.summary, flush=True)
        figures.extend(results)

    # A partial or quick run must not overwrite the figures of the last full run.
    default_name = "latest-partial.json" if (args.quick or args.only) else "latest.json"
    path = write_results(figures, args.out or RESULTS_DIR / default_name)
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    print(f"wrote {shown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
