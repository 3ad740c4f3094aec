"""`python -m benchmarks.robustness`: attack the running server and load it, then report.

Launches `python app.py` on a free local port (or uses --url), then
1. sends every attack in ATTACKS through gradio_client and plain HTTP: each must get a clear error
   message or a correct result, and the server must still answer a normal request afterwards;
2. runs N concurrent clients with different settings for S seconds: every result must equal the same
   request served alone; reports p50/p95 latency and the server's peak RSS (sampled from /proc);
3. floods a second server launched with a tiny queue: excess requests must be told the queue is full.
Writes benchmarks/results/robustness.{json,md}. Only 127.0.0.1 is ever contacted.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import threading
import time
import urllib.error
import urllib.request

from gradio_client import Client

from backend.analysis import EXPERT_CHOICES
from benchmarks.common import memory_gib
from benchmarks.server import launch, stop
from paths import RESULTS
OK_TEXT = "def f(x):\n    return x + 1  # прибавить один"
DEFAULTS = dict(text=OK_TEXT, n_experts=8, top_k=2, capacity=0.0, noise=0.0, seed=0, latency=False)
# name -> (changes to the default request, expected: None = a correct result, else a substring of the error)
ATTACKS = {
    "empty text": (dict(text=""), "empty"),
    "whitespace only": (dict(text=" \n\t\u3000 "), "empty"),
    "1 MB of text": (dict(text="lorem ipsum dolor " * 58255), None),
    "2.1 MB of text": (dict(text="x" * 2_100_000), "limit"),
    "emoji and ZWJ sequences": (dict(text="👩‍👩‍👧 🇷🇺 👍🏽 🎉" * 20), None),
    "combining marks": (dict(text="e\u0301\u0302\u0303 a\u0308" * 50), None),
    "right-to-left": (dict(text="שלום עולם مرحبا بالعالم"), None),
    "zero-width characters": (dict(text="a\u200bb\u200cc\u200dd\ufeff"), None),
    "NUL and control characters": (dict(text="a\x00b\x01\x07\x1b[31mc\x7f"), None),
    "top-K 0": (dict(top_k=0), "top-K must be an integer between 1"),
    "top-K above E": (dict(top_k=9), "top-K must be an integer between 1"),
    "top-K as text": (dict(top_k="2"), "integer"),
    "top-K fractional": (dict(top_k=1.5), "integer"),
    "negative capacity": (dict(capacity=-1.0), "capacity factor must be positive"),
    "unknown model size": (dict(n_experts=5), "number of experts must be one of"),
    "huge noise": (dict(noise=1e12), "router noise must be between"),
    "negative seed": (dict(seed=-3), "seed"),
    "huge seed": (dict(seed=2**70), "seed"),
    "null text": (dict(text=None), "text must be a string"),
}
# raw HTTP bodies for POST /gradio_api/call/analyze -> expected status (4xx), "event-error", or
# ("complete", a substring of the result); the lone surrogate goes here because gradio_client's HTTP
# library cannot encode one, while JSON can carry it as an escape
MALFORMED = {
    "lone surrogate (JSON escape)": (json.dumps({"data": ["a\ud800b", 8, 2, 0, 0, 0, False, "", "", "float32"]}).encode(),
                                     ("complete", "lone surrogates")),
    "invalid JSON": (b"{not json", 422),
    "data not a list": (b'{"data": "x"}', 422),
    "no data": (b"{}", 422),
    "too few arguments": (json.dumps({"data": ["hi"]}).encode(), "event-error"),
    "wrong types": (json.dumps({"data": [1, "eight", {}, [], None, "x", "y"]}).encode(), "event-error"),
}


def request(client: Client, **changes):
    r = DEFAULTS | changes
    return client.predict(r["text"], r["n_experts"], r["top_k"], r["capacity"], r["noise"], r["seed"], r["latency"],
                          api_name="/analyze")


def run_attacks(url: str) -> list[dict]:
    client = Client(url, verbose=False)
    results = []
    for name, (changes, expected) in ATTACKS.items():
        try:
            report = request(client, **changes)
            outcome, ok = f"result: {len(report['tokens'])} tokens, notices {report['notices']}", expected is None
        except Exception as e:  # gradio_client raises AppError with the server's message
            outcome, ok = f"error: {e}", expected is not None and expected in str(e)
        alive = request(client)["models"][1]["name"] == "moe-8"
        results.append({"attack": name, "outcome": outcome[:200], "as_expected": ok, "server_alive": alive})
    for name, (body, expected) in MALFORMED.items():
        status, detail = _post(url + "gradio_api/call/analyze", body)
        if not isinstance(expected, int) and status == 200:
            event = json.loads(detail)["event_id"]
            with urllib.request.urlopen(url + f"gradio_api/call/analyze/{event}", timeout=60) as r:
                stream = r.read().decode()
            if expected == "event-error":
                ok = "event: error" in stream
            else:
                ok = "event: complete" in stream and expected[1] in stream
            outcome = stream.strip().replace("\n", " ")[:200]
        else:
            ok, outcome = status == expected, f"HTTP {status}: {detail[:150]}"
        alive = request(client)["models"][1]["name"] == "moe-8"
        results.append({"attack": f"HTTP: {name}", "outcome": outcome, "as_expected": ok, "server_alive": alive})
    return results


def _post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def soak_settings(i: int) -> dict:
    """Client i's own settings: every client differs."""
    e = EXPERT_CHOICES[i % len(EXPERT_CHOICES)]
    return dict(text=f"{OK_TEXT} # client {i}", n_experts=e, top_k=1 + i % e, capacity=(0.0, 1.0, 0.5)[i % 3],
                noise=(0.0, 0.7)[i % 2], seed=i)


def _key(report: dict) -> str:
    return json.dumps({k: report[k] for k in ("tokens", "routing")} | {"losses": [m["token_losses"] for m in report["models"]]})


def soak(url: str, clients: int, seconds: float, pid: int | None = None) -> dict:
    """clients threads, each with its own settings, request in a loop for `seconds`."""
    baseline = {i: _key(request(Client(url, verbose=False), **soak_settings(i))) for i in range(clients)}
    stop = time.monotonic() + seconds
    latencies, failures, mismatches, rss = [], [], 0, []
    lock = threading.Lock()

    def worker(i: int) -> None:
        nonlocal mismatches
        client = Client(url, verbose=False)
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                report = request(client, **soak_settings(i))
            except Exception as e:
                with lock:
                    failures.append(f"client {i}: {e}")
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                mismatches += _key(report) != baseline[i]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(worker, i) for i in range(clients)]
        while not all(f.done() for f in futures):
            if pid:
                rss.append(memory_gib(pid)["resident_gib"] * 1024)  # MiB
            time.sleep(1.0)
    latencies.sort()
    return {
        "clients": clients, "seconds": seconds, "requests": len(latencies) + len(failures), "failures": len(failures),
        "failure_examples": failures[:5], "mismatches": mismatches,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "rss_start_mb": rss[0] if rss else None, "rss_peak_mb": max(rss) if rss else None,
        "rss_end_mb": rss[-1] if rss else None,
    }


def flood(requests: int = 24) -> dict:
    """A server with queue size 2 and one worker, hit by `requests` requests at once."""
    proc, url = launch(["--queue-size", "2", "--concurrency", "1"])
    try:
        def one(i: int) -> str:
            try:
                request(Client(url, verbose=False), text=OK_TEXT * 40, latency=True)
                return "served"
            except Exception as e:
                return "queue full" if "queue" in str(e).lower() else f"other error: {e}"

        with concurrent.futures.ThreadPoolExecutor(requests) as pool:
            outcomes = list(pool.map(one, range(requests)))
        after = request(Client(url, verbose=False))["models"][1]["name"] == "moe-8"
    finally:
        stop(proc)
    return {"requests": requests, "served": outcomes.count("served"), "told_queue_full": outcomes.count("queue full"),
            "other": [o for o in outcomes if o.startswith("other")], "server_alive_after": after}


def write_report(result: dict) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "robustness.json").write_text(json.dumps(result, indent=1) + "\n")
    s, f = result["soak"], result["flood"]
    lines = ["# Robustness", "", "Generated by `python -m benchmarks.robustness` against `python app.py` on 127.0.0.1.", "",
             f"## Bad input ({len(result['attacks'])} inputs tried)", "", "| input | outcome | as expected | server alive |",
             "|---|---|---|---|"]
    lines += [f"| {a['attack']} | {a['outcome'].replace('|', '/')} | {'yes' if a['as_expected'] else 'NO'} | "
              f"{'yes' if a['server_alive'] else 'NO'} |" for a in result["attacks"]]
    lines += ["", f"## Load: {s['clients']} concurrent clients, each with its own settings, for {s['seconds']:.0f} s", "",
              f"- requests served: {s['requests']}; failures: {s['failures']}; results different from the same request "
              f"served alone: {s['mismatches']}",
              f"- latency per request: p50 {s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms",
              f"- server memory (RSS): {s['rss_start_mb']:.0f} MB at start, peak {s['rss_peak_mb']:.0f} MB, "
              f"{s['rss_end_mb']:.0f} MB at the end",
              "", f"## Overload: {f['requests']} requests at once against `--queue-size 2 --concurrency 1`", "",
              f"- served: {f['served']}; told the queue is full (retry later): {f['told_queue_full']}; other errors: "
              f"{len(f['other'])}; server alive afterwards: {'yes' if f['server_alive_after'] else 'NO'}", ""]
    text = "\n".join(lines)
    (RESULTS / "robustness.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description="Attack and load the app, then report.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    proc, url = launch()
    try:
        result = {"attacks": run_attacks(url), "soak": soak(url, args.clients, args.seconds, proc.pid)}
    finally:
        stop(proc)
    result["flood"] = flood()
    print(write_report(result))


if __name__ == "__main__":
    main()
