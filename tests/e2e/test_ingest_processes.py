"""`e200 ingest` as operators run it, against real brokers: two processes in one Kafka consumer
group, one killed with SIGKILL mid-way and restarted — every reading is stored exactly once, and
the 75-hour backlog they read raises no terminal offline; and an MQTT subscription (QoS 1)
storing everything published to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import Engine, text

from e200 import alarms, archives
from e200.archives import KINDS, FeederIn, OrgUnitIn, SubstationIn, TerminalIn, TransformerIn
from e200.kernel import Scope, utc_now
from tests.bus.brokers import KafkaBroker, MqttBroker

TRANSFORMERS = 20
STAMPS = 300
LIMIT_S = 180  # bounds every wait so a stuck run fails instead of hanging


def _archive(engine: Engine) -> None:
    scope = Scope.everything()
    since = utc_now() - timedelta(days=30)
    with engine.begin() as conn:
        archives.create_org_unit(conn, OrgUnitIn(code="CO", name="Co", kind="company"), scope)
        archives.create_asset(conn, KINDS["substation"], SubstationIn(
            asset_number="SS1", org_unit="CO", valid_from=since), scope)  # fmt: skip
        archives.create_asset(conn, KINDS["feeder"], FeederIn(
            asset_number="F1", substation="SS1", valid_from=since), scope)  # fmt: skip
        for t in range(TRANSFORMERS):
            archives.create_asset(conn, KINDS["transformer"], TransformerIn(
                asset_number=f"T{t}", rated_kva=400, primary_rated_kv=10, secondary_rated_v=400,
                feeder="F1", valid_from=since), scope)  # fmt: skip
            archives.create_asset(conn, KINDS["terminal"], TerminalIn(
                asset_number=f"TTU{t}", transformer=f"T{t}", valid_from=since), scope)  # fmt: skip


def _messages() -> list[tuple[str, bytes]]:
    end = utc_now().replace(minute=0, second=0, microsecond=0)
    out = []
    for s in range(STAMPS):
        ts = (end - timedelta(minutes=15 * (STAMPS - s))).isoformat()
        for t in range(TRANSFORMERS):
            out.append((f"T{t}", orjson.dumps({
                "v": 1, "type": "dt_interval", "terminal": f"TTU{t}", "device": f"T{t}",
                "ts": ts, "interval_min": 15,
                "values": {"v_a_v": 230.0, "p_kw": 40.0, "e_imp_kwh": 100.0 + s}})))  # fmt: skip
    return out


def _ingest(db_url: str, source: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "E200_DATABASE_URL": db_url, "E200_LOG_JSON": "true"}
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "e200", "ingest", "--source", source, "--batch-size", "100"],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM telemetry.dt_reading")).scalar_one())


def _wait_stored(engine: Engine, at_least: int, procs: list[subprocess.Popen[bytes]],
                 log: Path) -> None:  # fmt: skip
    deadline = time.monotonic() + LIMIT_S
    while _stored(engine) < at_least:
        assert time.monotonic() < deadline, f"stored {_stored(engine)} < {at_least}:\n" + \
            log.read_text()[-3000:]  # fmt: skip
        for p in procs:
            assert p.poll() is None, f"ingest exited early:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)


def _offline_now(engine: Engine) -> int:
    """Run the offline check (the worker's 30-s job) now; the terminal_offline alarms it leaves
    open. Liveness is when E200 heard from a terminal, so a backlog of readings stamped days ago
    being read right now is terminals heard from now."""
    with engine.begin() as conn:
        alarms.AlarmEngine().check_offline(conn)
        return int(
            conn.execute(
                text("SELECT count(*) FROM alarms.alarm WHERE rule = 'terminal_offline'")
            ).scalar_one()
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)


def test_kafka_group_survives_sigkill_of_a_member(
    kafka_broker: KafkaBroker, fresh_db_url: str, engine: Engine, tmp_path: Path
) -> None:
    from confluent_kafka import Producer

    _archive(engine)
    topic = f"telemetry-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics(topic, partitions=4)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5})
    messages = _messages()
    for key, payload in messages:
        producer.produce(topic, payload, key=key.encode())
    assert producer.flush(30) == 0
    url = kafka_broker.url(topic, group="ingest-test", session_timeout_ms=2000, heartbeat_ms=500)
    log = tmp_path / "ingest.log"
    first, second = _ingest(fresh_db_url, url, log), _ingest(fresh_db_url, url, log)
    procs = [first, second]
    try:
        _wait_stored(engine, len(messages) // 5, [first, second], log)
        assert _offline_now(engine) == 0, "a backlog being read raised terminals offline"
        first.send_signal(signal.SIGKILL)  # mid-way, possibly mid-batch
        first.wait(timeout=30)
        procs.append(_ingest(fresh_db_url, url, log))
        _wait_stored(engine, len(messages), procs[1:], log)
        time.sleep(1.0)  # let redeliveries of the killed member's last batch arrive
        assert _offline_now(engine) == 0
    finally:
        _stop(procs)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT count(*), count(DISTINCT (transformer_id, ts)) FROM telemetry.dt_reading"
        )).one()  # fmt: skip
        totals = conn.execute(text(
            "SELECT sum(received), sum(stored), sum(quarantined), sum(duplicates) "
            "FROM telemetry.ingest_counter")).one()  # fmt: skip
    assert tuple(rows) == (len(messages), len(messages)), "every reading exactly once"
    received, stored, quarantined, duplicates = (int(v) for v in totals)
    assert stored == len(messages) and quarantined == 0
    assert received == stored + quarantined + duplicates


def test_mqtt_subscription_stores_everything(
    mqtt_broker: MqttBroker, fresh_db_url: str, engine: Engine, tmp_path: Path
) -> None:
    _archive(engine)
    prefix = f"e200-test/{uuid.uuid4().hex[:8]}"
    url = mqtt_broker.url(f"{prefix}/+/telemetry", client_id=f"ingest-{uuid.uuid4().hex[:6]}")
    log = tmp_path / "ingest.log"
    proc = _ingest(fresh_db_url, url, log)
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect(mqtt_broker.host, mqtt_broker.port)
        client.loop_start()
        messages = _messages()[:500]
        # QoS-1 messages published before the subscription exists are lost: send the first
        # message until it is stored (later copies count as duplicates), then the rest.
        deadline = time.monotonic() + LIMIT_S
        while _stored(engine) < 1:
            assert time.monotonic() < deadline, "ingest never subscribed:\n" + log.read_text()
            key, payload = messages[0]
            client.publish(f"{prefix}/{key}/telemetry", payload, qos=1).wait_for_publish(10)
            time.sleep(0.3)
        infos = [client.publish(f"{prefix}/{key}/telemetry", payload, qos=1)
                 for key, payload in messages]  # fmt: skip
        for info in infos:
            info.wait_for_publish(timeout=10)
        client.loop_stop()
        client.disconnect()
        _wait_stored(engine, len(messages), [proc], log)
    finally:
        _stop([proc])
    assert _stored(engine) == len(messages)
    with engine.connect() as conn:
        counts = conn.execute(text("SELECT received, stored, quarantined, duplicates "
                                   "FROM telemetry.ingest_counter")).one()  # fmt: skip
    assert counts.stored == len(messages)
    assert counts.received == counts.stored + counts.quarantined + counts.duplicates
