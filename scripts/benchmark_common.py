"""What every coretf benchmark script shares: timing summaries, CPU-share accounting on a shared
virtual machine, machine facts, waiting for a quiet machine, and running a measurement in its own
process. Standard library only, so the PyTorch reference script can import it from its own
environment.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata

# Environment variables that change TensorFlow's or oneDNN's CPU speed, recorded with the figures.
ENV_PREFIXES = ("TF_ENABLE_", "TF_NUM_", "TF_ONEDNN", "TF_XLA", "XLA_", "OMP_", "KMP_", "ONEDNN_",
                "DNNL_")


def log(prefix: str, message: str) -> None:
    """A progress line on stderr (stdout carries the JSON document)."""
    print(f"[{prefix} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def summary(seconds: list[float]) -> dict:
    """Median, spread and all values of repeated timings."""
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "n": len(seconds),
        "all_s": [round(s, 4) for s in seconds],
    }


def _cpu_ticks() -> tuple[int, int, int]:
    """(busy in this VM, stolen by the hypervisor, total) clock ticks since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + steal + idle + iowait


class CpuShare:
    """Shares of all CPUs that other processes (`others`) and the hypervisor (`steal`) took.

    Only what the guest can see: a slower host (another tenant on the same cores, a lower clock)
    shows in neither, which is why comparisons are interleaved in rounds and paired.
    """

    def __enter__(self):
        self._ticks, self._own = _cpu_ticks(), sum(os.times()[:2])
        return self

    def __exit__(self, *exc):
        busy, steal, total = (b - a for b, a in zip(_cpu_ticks(), self._ticks))
        own, total = (sum(os.times()[:2]) - self._own) * os.sysconf("SC_CLK_TCK"), max(total, 1)
        self.others, self.steal, self.own = max(0.0, busy - own) / total, steal / total, own / total


def wait_for_quiet(max_load: float, max_wait_s: float) -> dict:
    """Waits until the 1-minute load is below `max_load` and other processes used < 10 % of the
    CPUs over 3 s (no wait if `max_load` is 0), at most `max_wait_s`; returns what it saw."""
    start = time.perf_counter()
    while True:
        with CpuShare() as share:
            time.sleep(3.0)
        load = os.getloadavg()[0]
        quiet = load < max_load and share.others < 0.10
        waited = time.perf_counter() - start
        if quiet or not max_load or waited > max_wait_s:
            return {"load_avg_1min": load, "others_cpu_share_3s": share.others,
                    "waited_s": round(waited, 1), "quiet": quiet}
        time.sleep(5.0)


def machine(packages: tuple[str, ...] = ()) -> dict:
    """CPU model, the vector/matrix features that decide kernel choice, versions and environment."""
    cpu_model, cpu_flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and cpu_model is None:
                    cpu_model = value.strip()
                elif key.strip() == "flags" and not cpu_flags:
                    cpu_flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni")
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "cpu_flags": sorted(f for f in wanted if f in cpu_flags),
        "python": platform.python_version(),
        "versions": versions,
        "env": {k: os.environ[k] for k in sorted(os.environ) if k.startswith(ENV_PREFIXES)},
    }


# ---------------------------------------------------------------------------------------------
# Measurement workers: one process per configuration, driven one request at a time, so that
# several configurations can take turns step by step on the same machine (see `alternate`).


def protocol_stream():
    """Worker side: the stream that carries the protocol (the process's original stdout).

    Call first thing: afterwards anything else written to stdout (a library's print) goes to
    stderr, so it can never be mistaken for a reply.
    """
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return stream


def serve(stream, ready: dict, handlers: dict) -> None:
    """Worker side: writes `ready`, then answers one JSON request per stdin line until EOF.

    A request is {"op": name, ...}; the reply is `handlers[name](request)`, one JSON line.
    """
    def reply(message):
        stream.write(json.dumps(message) + "\n")
        stream.flush()

    reply(ready)
    for line in sys.stdin:
        request = json.loads(line)
        reply(handlers[request["op"]](request))


def timed(function) -> dict:
    """{"s": wall seconds of `function()`, "others"/"steal": CPU shares others took meanwhile}."""
    with CpuShare() as share:
        start = time.perf_counter()
        function()
        seconds = time.perf_counter() - start
    return {"s": seconds, "others": share.others, "steal": share.steal}


class WorkerError(RuntimeError):
    """A worker process failed; the message names it and what it said."""


class Worker:
    """Driver side: a worker process started with `command`, warmed up when this returns.

    Attributes:
        name: label for messages.
        ready: the worker's first reply (what it measured while warming up).
    """

    def __init__(self, name: str, command: list[str], env: dict | None = None):
        self.name = name
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True, env=env)
        self.ready = self._read()
        if "error" in self.ready:
            self.close()
            raise WorkerError(f"{name}: {self.ready['error']}")

    def call(self, op: str, **fields) -> dict:
        self._process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._process.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait()
            raise WorkerError(f"{self.name}: worker exited with status {code} (see stderr)")
        return json.loads(line)

    def close(self) -> None:
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()
        self._process.wait(timeout=120)


def alternate(workers: list[Worker], cycles: int, op: str, **fields) -> dict[str, list[dict]]:
    """Sends `op` to every worker in turn, `cycles` times; one computes while the others wait.

    The order rotates every cycle so that no configuration always follows the same one. Replies
    of cycle i sit at index i of each worker's list, so figures of two workers at the same index
    were measured within one cycle of each other: their ratio is free of the machine's drift.
    """
    replies = {w.name: [] for w in workers}
    for cycle in range(cycles):
        k = cycle % len(workers)
        for worker in workers[k:] + workers[:k]:
            replies[worker.name].append(worker.call(op, **fields))
    return replies
