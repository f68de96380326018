"""Starting the Spark Thrift Server (HiveServer2 protocol) from pyspark's jars.

pyspark's wheel carries `spark-hive-thriftserver` and `bin/spark-submit`, so
no separate Spark install is needed. The server keeps its own embedded Derby
metastore and its own managed-table folder under `<warehouse>/thrift/`: the
build's Derby metastore admits one JVM, and the build's JVM holds it for
minutes (cinemart.spark.readers.mirror explains how the two stay in step).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: The server's main class in pyspark's jars.
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


class ThriftServerError(RuntimeError):
    """The Thrift Server did not start; the message says why in one line."""


@dataclass(frozen=True)
class ThriftServer:
    """Where one Thrift Server listens and keeps its state."""

    warehouse: Path  # the build's Spark warehouse (published versions' files)
    port: int = 10000
    host: str = "127.0.0.1"
    master: str = "local[2]"

    @property
    def state_dir(self) -> Path:
        """The server's metastore, managed tables, log and dbt target: never the build's."""
        return self.warehouse / "thrift"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "thrift-server.log"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:hive2://{self.host}:{self.port}/default"

    def command(self) -> list[str]:
        """spark-submit of HiveThriftServer2 bound to host:port with the server's own metastore."""
        import pyspark

        home = Path(pyspark.__file__).parent
        state = self.state_dir
        conf = {
            "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.warehouse.dir": str(state / "tables"),
            "spark.hadoop.javax.jdo.option.ConnectionURL":
                f"jdbc:derby:;databaseName={state / 'metastore_db'};create=true",
            "spark.hadoop.hive.server2.thrift.port": str(self.port),
            "spark.hadoop.hive.server2.thrift.bind.host": self.host,
        }
        argv = [str(home / "bin" / "spark-submit"), "--master", self.master, "--name", "cinemart-thrift",
                "--class", THRIFT_SERVER_CLASS, "--driver-java-options", f"-Dderby.system.home={state}"]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        return [*argv, "spark-internal"]

    def start(self) -> subprocess.Popen:
        """Start the server in its own process group (so stopping it stops its JVM); output to log_path."""
        import pyspark

        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent)}
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(self.command(), cwd=self.state_dir, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_listening(self, process: subprocess.Popen, timeout: float = 180.0) -> None:
        """Return once host:port accepts connections; one-line error if the server exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ThriftServerError(f"the Spark Thrift Server exited (code {process.returncode}): "
                                        f"{self._last_error()} (log: {self.log_path})")
            with socket.socket() as probe:
                probe.settimeout(1.0)
                if probe.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(1.0)
        raise ThriftServerError(f"the Spark Thrift Server did not listen on {self.host}:{self.port} within "
                                f"{timeout:.0f} s (log: {self.log_path})")

    def _last_error(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        errors = [line for line in lines if "Exception" in line or "ERROR" in line]
        return (errors or lines or ["no output"])[-1].strip()[:300]


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (so a second server would fail to bind)."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) != 0
