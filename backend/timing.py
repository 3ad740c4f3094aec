"""Wall-clock latency of models on the same input, measured side by side.

What is timed, per model and repetition:
- prefill: one forward pass over the prompt (B=1, no KV cache kept), in milliseconds;
- decode: `decode_tokens` greedy steps of one token each with the KV cache, after an untimed
  prefill, reported as tokens per second.
Warm-up repetitions run first and are discarded; then the models take turns within every
repetition (the order rotates, see `time_interleaved`, which the latency lab shares), so a slow
moment of the machine hits all of them alike. Medians are reported with the min-max spread. Nothing
here is estimated. This module is also the one timing harness of the project: the latency lab (lab/)
times its variants with `time_interleaved` and reads the machine's caches here.
"""
from __future__ import annotations

import datetime
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from backend.reliability import Reliability, available_cores, relative_spread, watch
from models.transformer import Transformer
from routing.options import RoutingOptions
from text import tr


@dataclass(frozen=True)
class Timing:
    median: float
    low: float  # min over repetitions
    high: float  # max over repetitions
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        return cls(statistics.median(samples), min(samples), max(samples), tuple(samples))


@dataclass(frozen=True)
class ModelLatency:
    prefill_ms: Timing
    decode_tokens_per_s: Timing


@dataclass(frozen=True)
class LatencyReport:
    models: dict[str, ModelLatency]
    prompt_tokens: int
    decode_tokens: int
    repeats: int
    warmup: int
    threads: int
    device: str
    description: str
    reliability: Reliability  # competing load and spread during the measurement, with reasons
    machine: str

    def to_dict(self) -> dict:
        return asdict(self)


TIMING_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def native_dtypes() -> list[str]:
    """float32, and bfloat16 where the CPU has bf16 instructions (or a GPU is there)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    native = "avx512_bf16" in flags or "amx_bf16" in flags or torch.cuda.is_available()
    return list(TIMING_DTYPES) if native else ["float32"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def last_level_cache_bytes(device: torch.device) -> int:
    """The largest cache between this device and its memory (CPU: from sysfs; 32 MiB if unknown)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).L2_cache_size
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip()
        sizes.append(int(text[:-1]) * {"K": 2**10, "M": 2**20}[text[-1]] if text[-1] in "KM" else int(text))
    return max(sizes, default=32 * 2**20)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from /proc/cpuinfo (Linux) with its family, model and widest vector units, e.g.
    "AMD EPYC (family 26, model 2; AVX-512 with bf16)": a virtual machine often shows only "AMD EPYC",
    and two such machines can differ 2x in speed; else what platform reports."""
    try:
        fields = dict(line.split(":", 1) for line in cpuinfo.read_text().split("\n\n")[0].splitlines() if ":" in line)
    except OSError:
        fields = {}
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    vector = ("AVX-512 with bf16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags
              else "AVX2" if "avx2" in flags else None)
    details = [f"family {fields['cpu family']}, model {fields['model']}"] if "cpu family" in fields and "model" in fields else []
    details += [vector] if vector else []
    return fields["model name"] + (f" ({'; '.join(details)})" if details else "")


ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")  # environment variables that keep torch off the widest units


def machine_description() -> str:
    """What a measurement ran on, read from the system: CPU model, cores this process may use, torch
    threads, last-level cache, torch version and date; and any cap on the instructions torch may use (a run with
    ONEDNN_MAX_CPU_ISA=AVX2 stands in for a CPU without AVX-512 and bf16 units, and must say so)."""
    caps = [f"{name}={os.environ[name]}" for name in ISA_CAPS if os.environ.get(name)]
    return (f"{cpu_model()}{' capped by ' + ' '.join(caps) if caps else ''}, {available_cores()} cores, "
            f"{torch.get_num_threads()} torch threads, last-level cache "
            f"{last_level_cache_bytes(torch.device('cpu')) / 2**20:.0f} MB, torch {torch.__version__}, "
            f"{datetime.date.today().isoformat()}")


@functools.lru_cache(maxsize=4)
def _cache_flusher(device: torch.device) -> torch.Tensor:
    return torch.zeros(2 * last_level_cache_bytes(device) // 4, device=device)  # twice the cache, fp32


@torch.no_grad()
def time_interleaved(fns: dict[str, Callable], x: torch.Tensor, repeats: int, warmup: int,
                     flush_cache: bool = False) -> dict[str, list[float]]:
    """Seconds per call of every fns[name](x): each repetition runs every function once, in an order that
    rotates, after `warmup` discarded repetitions. flush_cache: before each call (untimed), write a buffer
    twice the size of the last-level cache, so that no function finds weights another one just read (as in
    a real model, where the other layers' weights pass through the cache between two calls of one layer)."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(warmup + repeats):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            if flush_cache:
                _cache_flusher(x.device).add_(1.0)
            synchronize(x.device)
            start = time.perf_counter()
            fns[name](x)
            synchronize(x.device)
            elapsed = time.perf_counter() - start
            if rep >= warmup:
                times[name].append(elapsed)
    return times


@torch.no_grad()
def warm_up(model: Transformer) -> None:
    """One cached decode step, so that one-time costs (allocations, the one-row product forms that
    models/products.py times per weight shape) are paid before anything is timed for a user."""
    greedy_decoder(model, torch.zeros(1, 2, dtype=torch.long), RoutingOptions(), 1)(None)


@torch.no_grad()
def greedy_decoder(model: Transformer, prompt: torch.Tensor, routing: RoutingOptions, steps: int) -> Callable:
    """A function that decodes `steps` greedy tokens after `prompt`, whose KV cache is filled once, untimed."""
    cache = model.new_cache(prompt.shape[0], prompt.shape[1] + steps)
    first = model(prompt, routing=routing, cache=cache).logits[:, -1:].argmax(-1)  # (B, 1)

    def decode(_) -> None:
        cache.length = prompt.shape[1]  # every call decodes the same positions
        nxt = first
        for _ in range(steps):
            nxt = model(nxt, routing=routing, cache=cache).logits[:, -1:].argmax(-1)
    return decode


def measure_latency(
    models: dict[str, tuple[Transformer, RoutingOptions]],
    ids: torch.Tensor,
    decode_tokens: int = 16,
    repeats: int = 5,
    warmup: int = 1,
) -> LatencyReport:
    """ids (1, T). Each model runs with its own routing options (dense models ignore them)."""
    context = min(m.cfg.context_length for m, _ in models.values())
    decode_tokens = max(1, min(decode_tokens, context - 1))
    prompt = ids[:, : context - decode_tokens]
    with watch() as watched:
        prefill = time_interleaved({n: (lambda m, r: lambda x: m(x, routing=r))(m, r) for n, (m, r) in models.items()},
                                   prompt, repeats, warmup)
        decode = time_interleaved({n: greedy_decoder(m, prompt, r, decode_tokens) for n, (m, r) in models.items()},
                                  prompt, repeats, warmup)
    threads = torch.get_num_threads()
    return LatencyReport(
        models={n: ModelLatency(Timing.of([1000 * t for t in prefill[n]]), Timing.of([decode_tokens / t for t in decode[n]]))
                for n in models},
        prompt_tokens=prompt.shape[1],
        decode_tokens=decode_tokens,
        repeats=repeats,
        warmup=warmup,
        threads=threads,
        device=", ".join(sorted({str(getattr(m, "device", ids.device)) for m, _ in models.values()})),  # a real model's own
        description=tr(
            "prefill: one forward pass over {tokens} tokens (batch 1); decode: {decode} greedy one-token steps with the KV "
            "cache after the prefill. {warmup} warm-up + {repeats} interleaved repetitions, median with min-max; {threads} "
            "CPU threads.", tokens=prompt.shape[1], decode=decode_tokens, warmup=warmup, repeats=repeats, threads=threads),
        reliability=watched.verdict(relative_spread(s) for s in [*prefill.values(), *decode.values()]),
        machine=machine_description(),
    )
