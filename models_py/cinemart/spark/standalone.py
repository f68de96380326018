"""A Spark standalone cluster on this machine, from pyspark's own `bin/spark-class`, and the
package zip the docs tell cluster users to ship (docs/spark.md, "On a cluster").

Used by the cluster test and benchmarks/bench_engines.py to prove the cluster
path on one machine: a master and N one-core workers bound to 127.0.0.1, each
in its own process group so that stopping the cluster stops every JVM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    """The standalone cluster did not come up; the message says why in one line."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class StandaloneCluster:
    """A master and `workers` workers of `cores` cores and `memory` each, logs and work folders under `work`."""

    work: Path
    workers: int = 2
    cores: int = 1
    memory: str = "1536m"
    port: int = field(default_factory=_free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def _spark_class(self, name: str, *args: str) -> subprocess.Popen:
        import pyspark

        home = Path(pyspark.__file__).parent
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": HOST, "SPARK_NO_DAEMONIZE": "1"}
        env.pop("PYTHONPATH", None)  # executors see only what the application ships, as on a real cluster
        with open(self.work / f"{name}.log", "ab") as log:
            return subprocess.Popen([str(home / "bin" / "spark-class"), *args], cwd=self.work, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout: float = 180.0) -> StandaloneCluster:
        """Start the master, then the workers; return once every worker has registered.

        Whatever interrupts the start (a timeout, Ctrl-C) stops what was started."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> StandaloneCluster:
        self.work.mkdir(parents=True, exist_ok=True)
        self.processes.append(self._spark_class("master", MASTER_CLASS, "--host", HOST, "--port", str(self.port),
                                                "--webui-port", str(_free_port())))
        for n in range(self.workers):
            self.processes.append(self._spark_class(
                f"worker-{n}", WORKER_CLASS, "--host", HOST, "--cores", str(self.cores), "--memory", self.memory,
                "--webui-port", str(_free_port()), "--work-dir", str(self.work / f"worker-{n}"), self.master_url))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = [p.args[1] for p in self.processes if p.poll() is not None]
            if exited:
                raise ClusterError(f"a standalone cluster process exited at start ({exited[0]}); logs in {self.work}")
            if self._registered() == self.workers:
                return self
            time.sleep(1.0)
        raise ClusterError(f"{self.workers} workers did not register with {self.master_url} within {timeout:.0f} s; "
                           f"logs in {self.work}")

    def _registered(self) -> int:
        logs = (self.work / f"worker-{n}.log" for n in range(self.workers))
        return sum(1 for log in logs if log.exists() and "Successfully registered with master" in log.read_text(errors="replace"))

    def stop(self) -> None:
        """Stop the workers, then the master (each process group), forcefully after 30 s."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def package_zip(dest: Path) -> Path:
    """`cd models_py && zip -r cinemart.zip cinemart` (compiled files left out): what
    spark.submit.pyFiles ships to every executor's Python workers."""
    package = Path(__file__).resolve().parents[1]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*.py")):
            archive.write(path, path.relative_to(package.parent).as_posix())
    return dest
