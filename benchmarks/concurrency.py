"""`python -m benchmarks.concurrency`: page latency with 1, 2 and 16 concurrent clients, before and after
sizing torch's threads to the cores.

Launches `python app.py` twice: "before" with 2 torch threads per request (the old default: 2 requests
at once x 2 threads on this machine's cores), "after" with the default (cores // concurrent requests).
For each, 1, 2 and 16 clients send /analyze requests (each client its own settings, every answer
checked against the client's first) for `--seconds`; reports the median and 95th-percentile request time
and the requests answered. Writes benchmarks/results/concurrency.{json,md}. Run it on a quiet machine:
the free cores at the start are recorded.
"""
from __future__ import annotations

import argparse

from backend.reliability import available_cores
from backend.threads import free_cores
from backend.timing import machine_description
from benchmarks.robustness import soak
from benchmarks.common import write_results
from benchmarks.server import launch, stop

CLIENTS = (1, 2, 16)
CONFIGS = {"before: 2 torch threads per request": ["--threads", "2"], "after: cores // concurrent requests": []}


def main() -> None:
    parser = argparse.ArgumentParser(description="Page latency under concurrent clients, threads before/after.")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    result = {"machine": machine_description(), "cores": available_cores(), "free_cores_at_start": free_cores(1.0),
              "seconds_per_cell": args.seconds, "runs": {}}
    for name, flags in CONFIGS.items():
        proc, url = launch(flags)
        try:
            result["runs"][name] = {clients: soak(url, clients, args.seconds) for clients in CLIENTS}
        finally:
            stop(proc)
    lines = ["# Page latency under concurrent clients: torch threads before and after", "",
             f"Machine: {result['machine']}; free cores at the start: {result['free_cores_at_start']} of {result['cores']}. "
             f"Each cell: {args.seconds:.0f} s of /analyze requests (text of about 40 tokens, the 8-expert MoE and both dense "
             "models, no latency measurement), every answer checked against the client's own settings. The server "
             "serves 2 requests at once.", "",
             "| threads | clients | requests answered | median (ms) | 95th percentile (ms) | failures | wrong answers |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, cells in result["runs"].items():
        for clients, r in cells.items():
            lines.append(f"| {name} | {clients} | {r['requests']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['failures']} | "
                         f"{r['mismatches']} |")
    write_results("concurrency", result, "\n".join(lines))


if __name__ == "__main__":
    main()
