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


def run_json(command: list[str], *, timeout: float, env: dict | None = None) -> dict:
    """Runs a measurement in its own process and returns the JSON object on its last stdout line
    (or {"error": ...}); its stderr (progress) passes through."""
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout,
                              check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode:
        return {"error": f"{os.path.basename(command[1])} exited with status {done.returncode} "
                         "(see stderr)"}
    return json.loads(done.stdout.strip().splitlines()[-1])
