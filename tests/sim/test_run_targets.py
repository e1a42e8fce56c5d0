"""``e200 sim run`` into real transports (Kafka on Tansu, MQTT on Mosquitto, HTTP ingest of a
running E200) and as IoT platform envelopes: what arrives passes the real ingest pipeline with
nothing quarantined."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import uvicorn
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from e200.api import create_app
from e200.bus import Delivery, MemoryBus, open_source
from e200.config import Settings
from e200.sim import FaultConfig, build_grid, inject_grid_faults, load_grid
from e200.sim.cli import IOT_MAPPING, sim_app
from e200.sim.live import run_live
from e200.sim.messages import ENVELOPE_PRODUCTS
from e200.telemetry import Pipeline
from e200.telemetry.codec import IotMapping
from tests.bus.brokers import KafkaBroker, MqttBroker, free_port, wait_until
from tests.users import api_key

SEED = 41
PRESET = "tiny"  # 4 station areas, ≈50 meters
WAIT_S = 30.0


def _load_archive(engine: Engine) -> None:
    """The archive exactly as ``sim run --preset tiny --seed 41`` sees the grid."""
    grid = build_grid(PRESET, SEED)
    inject_grid_faults(grid, FaultConfig(), SEED)
    load_grid(engine, grid, bulk=True)


def _run(*args: str) -> tuple[int, int]:
    """``e200 sim run`` four intervals back, at full speed; (messages, deliveries) published."""
    argv = ["run", "--preset", PRESET, "--seed", str(SEED), "--speed", "1e6", "--backlog", "1"]
    result = CliRunner().invoke(sim_app, [*argv, *args])
    assert result.exit_code == 0, result.output
    found = re.search(r"Published (\d+) messages in (\d+) deliveries", result.output)
    assert found, result.output
    return int(found[1]), int(found[2])


def _collect(url: str, expected: int) -> list[Delivery]:
    source = open_source(url)
    try:
        got: list[Delivery] = []

        def more() -> bool:
            got.extend(source.poll(1000, 0.5))
            return len(got) >= expected

        wait_until(more, WAIT_S)
        source.commit()
        return got
    finally:
        source.close()


def _messages(deliveries: list[Delivery]) -> int:
    return sum(len(orjson.loads(d.payload)) for d in deliveries)


def _assert_all_stored(engine: Engine, deliveries: list[Delivery], messages: int) -> None:
    result = Pipeline(engine).process(deliveries, "test")
    assert result.quarantined == 0, [(r.reason, r.detail) for r in result.rejected]
    assert result.received == messages
    assert result.stored + result.duplicates == messages and result.stored > 0


def test_run_publishes_contract_v1_to_kafka(engine: Engine, kafka_broker: KafkaBroker) -> None:
    _load_archive(engine)
    topic = f"sim-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics(topic, partitions=2)
    messages, deliveries = _run(
        "--to", kafka_broker.url(), "--topic", topic, "--max-intervals", "4"
    )
    assert deliveries >= 4  # the 15-min terminals deliver every interval
    got = _collect(
        kafka_broker.url(topic, group=f"g-{topic}", session_timeout_ms=2000, heartbeat_ms=500),
        deliveries,
    )
    assert len(got) == deliveries and _messages(got) == messages
    _assert_all_stored(engine, got, messages)


def test_run_publishes_contract_v1_to_mqtt_for_a_duration(
    engine: Engine, mqtt_broker: MqttBroker
) -> None:
    _load_archive(engine)
    topic = f"e200test/sim-{uuid.uuid4().hex[:8]}"
    source = open_source(mqtt_broker.url(topic, qos=1))  # subscribed before anything is sent
    try:
        t0 = time.monotonic()
        # Catch up the hour, then keep running in real time until 1.5 s have passed.
        messages, deliveries = _run(
            "--to", mqtt_broker.url(), "--topic", topic, "--duration", "1.5"
        )
        assert 1.5 <= time.monotonic() - t0 < 20
        got: list[Delivery] = []

        def more() -> bool:
            got.extend(source.poll(1000, 0.5))
            return len(got) >= deliveries

        wait_until(more, WAIT_S)
        source.commit()
    finally:
        source.close()
    assert deliveries >= 4 and len(got) == deliveries and _messages(got) == messages
    _assert_all_stored(engine, got, messages)


@pytest.fixture()
def e200_http(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """A running E200 API (uvicorn in a thread) on a free 127.0.0.1 port."""
    settings = Settings(data_dir=tmp_path, database_url="unused://")
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, engine, console=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, 15.0), "uvicorn did not start within 15 s"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"


def test_run_posts_contract_v1_to_a_running_e200(engine: Engine, e200_http: str) -> None:
    _load_archive(engine)
    runner = CliRunner()
    argv = ["run", "--preset", PRESET, "--seed", str(SEED), "--speed", "1e6", "--backlog", "1"]
    refused = runner.invoke(sim_app, [*argv, "--to", e200_http, "--max-intervals", "1"])
    assert refused.exit_code != 0 and "--api-key" in refused.output
    key = api_key(engine)
    result = runner.invoke(
        sim_app, [*argv, "--to", e200_http, "--max-intervals", "4", "--api-key", key]
    )
    assert result.exit_code == 0, result.output
    found = re.search(r"stored (\d+), quarantined (\d+), duplicates (\d+)", result.output)
    assert found, result.output
    published = int(re.search(r"Published (\d+) messages", result.output)[1])  # type: ignore[index]
    stored, quarantined, duplicates = (int(x) for x in found.groups())
    assert quarantined == 0 and stored > 0 and stored + duplicates == published
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM telemetry.quarantine")).scalar() == 0


def test_envelopes_are_stored_through_the_shipped_product_mapping(engine: Engine) -> None:
    _load_archive(engine)
    grid = build_grid(PRESET, SEED)
    inject_grid_faults(grid, FaultConfig(), SEED)
    bus = MemoryBus(f"sim-envelope-{uuid.uuid4().hex[:6]}")
    stats = run_live(
        grid,
        bus,
        speed=1e6,
        stop_event=threading.Event(),
        seed=SEED,
        commands=MemoryBus(f"sim-envelope-cmd-{uuid.uuid4().hex[:6]}"),
        max_steps=4,
        envelope=True,
    )
    deliveries = [
        Delivery(payload, source="memory", ref=f"memory#{n}")
        for n, payload, _ in bus.take(10_000, 0)
    ]
    items = [m for d in deliveries for m in orjson.loads(d.payload)]
    envelopes = [m for m in items if "notify_data" in m]
    assert len(items) == stats.messages and len(envelopes) > 0.9 * len(items)
    assert not any(m.get("type") in ENVELOPE_PRODUCTS for m in items)  # readings all wrapped
    # Every property the simulator reports is named in the mapping: nothing silently dropped.
    mapping = IotMapping.load(IOT_MAPPING)
    assert set(mapping.products) == set(ENVELOPE_PRODUCTS.values())
    for env in envelopes:
        product = mapping.products[env["notify_data"]["header"]["product_id"]]
        for service in env["notify_data"]["body"]["services"]:
            assert set(service["properties"]) <= set(product.properties)
    # Without the mapping they would be quarantined; with it, all are stored.
    unmapped = Pipeline(engine).process(deliveries[:1], "test")
    assert unmapped.quarantined > 0
    assert {r.reason for r in unmapped.rejected} == {"unmapped_product"}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM telemetry.quarantine"))
    result = Pipeline(engine, mapping=mapping).process(deliveries, "test")
    assert result.quarantined == 0, [(r.reason, r.detail) for r in result.rejected]
    assert result.received == len(items) and result.stored == len(items)
