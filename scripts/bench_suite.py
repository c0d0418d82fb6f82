"""The StreamBus benchmark suite, run by scripts/bench.sh.

For each flush policy and each run it starts a release broker on a fresh data directory and
measures its cold start (process start to the first accepted TCP connection) and idle
resident memory; then, for each workload and client, it resets the broker's peak-memory mark,
runs the workload, and records the client's report with the broker's peak resident memory and
the CPU seconds it spent. At the end it prints, per policy, the median and the spread
(min-max) of every figure over the runs, and writes everything to target/bench/.

Workloads (librdkafka through examples/loadgen/, and the StreamBus client through
`streambus bench`):
  W1  1,000,000 x 100 B to one partition (acks=all), then consumed
  W2  200,000 x 1 KiB to one partition (acks=all), then consumed
  W3  end-to-end latency at 10,000 msgs/s for 20 s, linger 1 ms (with linger 0 librdkafka
      sends every record as its own request, and a connection's requests are served one
      at a time, each synced under flush=always: it falls behind)
  W4  W1 spread over 1,000 partitions
  W5  100 producers and 100 consumers at once (librdkafka only: `streambus bench` has no
      mixed workload)
Every run is bounded: each client command has a deadline, and the broker is stopped after.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIENT_DEADLINE_S = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A `streambus serve` on loopback with a fresh data directory."""

    def __init__(self, binary, policy):
        self.dir = tempfile.TemporaryDirectory(prefix="streambus-bench-")
        config = Path(self.dir.name) / "streambus.toml"
        config.write_text(f'[log]\n"flush.policy" = "{policy}"\n')
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        env = dict(os.environ, STREAMBUS_LOG="warn")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [
                binary, "serve",
                "--data-dir", str(Path(self.dir.name) / "data"),
                "--kafka-addr", self.bootstrap,
                "--http-addr", f"127.0.0.1:{free_port()}",
                "--config", str(config),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.cold_start_ms = self._wait_for_connection(started) * 1000.0
        time.sleep(0.5)
        self.idle_rss_mib = self.status_kib("VmRSS") / 1024.0

    def _wait_for_connection(self, started):
        deadline = started + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the broker exited: {self.process.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.05):
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.0005)
        raise RuntimeError("the broker accepted no connection within 30 s")

    def status_kib(self, field):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc status")

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def reset_peak(self):
        # Writing 5 to clear_refs resets the peak resident set size (VmHWM).
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.dir.cleanup()


def run_client(command):
    """Runs a client command; its JSON report."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CLIENT_DEADLINE_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def workloads(args, bootstrap, run):
    """(workload, client, steps): each step a command whose report is kept."""
    sb, lg = args.streambus, args.loadgen
    b = ["--bootstrap", bootstrap]

    def ours(name, *rest):
        return [sb, "bench", name, *b, "--json", *rest]

    def theirs(name, *rest):
        return [lg, name, *b, *rest]

    def both(workload, count, size, partitions):
        t_ours, t_theirs = f"{workload}-sb-{run}", f"{workload}-rd-{run}"
        yield workload, "librdkafka", [
            theirs("produce", "--topic", t_theirs, "--count", count, "--size", size,
                   "--partitions", partitions, "--acks", "all"),
            theirs("consume", "--topic", t_theirs, "--count", count),
        ]
        yield workload, "streambus", [
            ours("produce", "--topic", t_ours, "--count", count, "--message-size", size,
                 "--partitions", partitions, "--acks", "all", "--batch-size", "1000000"),
            ours("consume", "--topic", t_ours),
        ]

    if "W1" in args.workloads:
        yield from both("W1", "1000000", "100", "1")
    if "W2" in args.workloads:
        yield from both("W2", "200000", "1024", "1")
    if "W3" in args.workloads:
        yield "W3", "librdkafka", [
            theirs("e2e", "--topic", f"W3-rd-{run}", "--rate", "10000", "--duration", "20",
                   "--size", "100", "--acks", "all", "--linger-ms", "1")
        ]
        yield "W3", "streambus", [
            ours("e2e", "--topic", f"W3-sb-{run}", "--rate", "10000", "--duration", "20s",
                 "--message-size", "100", "--linger-ms", "1")
        ]
    if "W4" in args.workloads:
        yield from both("W4", "1000000", "100", "1000")
    if "W5" in args.workloads:
        yield "W5", "librdkafka", [
            theirs("mixed", "--topic", f"W5-rd-{run}", "--partitions", "100",
                   "--producers", "100", "--consumers", "100", "--count", "1000000",
                   "--size", "100")
        ]


def figures(reports):
    """The figures of one workload run, from its reports (produce then consume, or one)."""
    out = {}
    for report in reports:
        kind = report["workload"]
        if kind in ("produce", "consume", "mixed"):
            prefix = {"produce": "in", "consume": "out", "mixed": "mixed"}[kind]
            out[f"{prefix} M msgs/s"] = report["records_per_second"] / 1e6
            if "megabytes_per_second" in report:
                out[f"{prefix} MB/s"] = report["megabytes_per_second"]
            if report.get("errors"):
                out[f"{prefix} errors"] = report["errors"]
        if kind == "mixed":
            out["consumers with records"] = report["consumers_with_records"]
        if kind == "e2e":
            latency = report["latency"]
            for name in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
                out[f"e2e {name.replace('_ms', '')} ms"] = latency[name]
            out["e2e lost"] = report["errors"]
    return out


def run_suite(args):
    results = []
    for policy in args.policies:
        for run in range(1, args.runs + 1):
            broker = Broker(args.streambus, policy)
            print(f"[{policy} run {run}] cold start {broker.cold_start_ms:.1f} ms, "
                  f"idle {broker.idle_rss_mib:.1f} MiB", file=sys.stderr)
            try:
                results.append({"policy": policy, "run": run, "workload": "broker",
                                "client": "-", "figures": {
                                    "cold start ms": broker.cold_start_ms,
                                    "idle RSS MiB": broker.idle_rss_mib}})
                for workload, client, steps in workloads(args, broker.bootstrap, run):
                    broker.reset_peak()
                    cpu = broker.cpu_seconds()
                    reports = [run_client(step) for step in steps]
                    fig = figures(reports)
                    fig["broker peak RSS MiB"] = broker.status_kib("VmHWM") / 1024.0
                    fig["broker CPU s"] = broker.cpu_seconds() - cpu
                    results.append({"policy": policy, "run": run, "workload": workload,
                                    "client": client, "figures": fig, "reports": reports})
                    print(f"[{policy} run {run}] {workload} {client}: "
                          + ", ".join(f"{k} {v:.3g}" for k, v in fig.items()), file=sys.stderr)
            finally:
                broker.stop()
    return results


def summary(results):
    """Markdown: per policy, workload and client, the median (min-max) of each figure."""
    lines = []
    keys = []
    for r in results:
        key = (r["policy"], r["workload"], r["client"])
        if key not in keys:
            keys.append(key)
    for policy in dict.fromkeys(k[0] for k in keys):
        lines.append(f"\nflush.policy={policy}\n")
        lines.append("| workload | client | figure | median | min-max |")
        lines.append("| --- | --- | --- | --- | --- |")
        for _, workload, client in (k for k in keys if k[0] == policy):
            runs = [r["figures"] for r in results
                    if (r["policy"], r["workload"], r["client"]) == (policy, workload, client)]
            names = list(dict.fromkeys(n for f in runs for n in f))
            for name in names:
                values = [f[name] for f in runs if name in f]
                lines.append(f"| {workload} | {client} | {name} | "
                             f"{statistics.median(values):.3g} | "
                             f"{min(values):.3g}-{max(values):.3g} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streambus", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--policies", default="always,os")
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    args = parser.parse_args()
    args.policies = args.policies.split(",")
    args.workloads = args.workloads.split(",")
    results = run_suite(args)
    out = Path("target/bench")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(summary(results))
    print(f"\n(all reports: {path})")


if __name__ == "__main__":
    main()
