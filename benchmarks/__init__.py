"""Companion benchmarks (issue 2): measurements, never pass/fail tests.

``python -m benchmarks`` (``make bench``) runs every figure, prints one summary line per figure and
writes them as JSON to ``benchmarks/results/latest.json``. Each figure is also runnable alone,
e.g. ``python -m benchmarks.checkin_throughput``.

Every figure starts its own ``companion serve`` process on 127.0.0.1 with a throw-away data
directory (embedded SQLite), seeds it directly through the app's models, logs its patients in
through the real ``POST /login``, and drives it from a separate load-generator process (wrk when
installed, otherwise the asyncio/aiohttp generator in ``benchmarks/loadgen.py``). No traffic ever
leaves the loopback interface.
"""
