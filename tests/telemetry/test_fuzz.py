"""Fuzz: arbitrary bytes and mutated valid messages never crash ingest; everything that is not
stored is quarantined with a known reason, and the counts add up."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e200.telemetry import Pipeline
from tests.telemetry.conftest import deliveries, dt_msg, meter_msg

REASONS = {
    "malformed_json", "schema", "unsupported_version", "unknown_type", "unknown_device",
    "retired_device", "bad_timestamp", "future_timestamp", "off_grid", "beyond_retention",
    "out_of_range", "register_backwards", "unmapped_product",
}  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from([dt_msg(), meter_msg(), {"v": 1, "type": "event", "device": "M1",
                                 "ts": dt_msg()["ts"], "event": "power_up"}]))  # fmt: skip
    msg = dict(base)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*msg.keys(), "values", "extra"]))
        if draw(st.booleans()) and key in msg:
            del msg[key]
        elif key == "values" and isinstance(msg.get("values"), dict):
            values = dict(msg["values"])
            values[draw(st.sampled_from([*values.keys(), "x"]))] = draw(json_values)
            msg["values"] = values
        else:
            msg[key] = draw(json_values)
    return msg


def _check(pipeline: Pipeline, payloads: list[Any]) -> None:
    result = pipeline.process(deliveries(*payloads), "fuzz")
    assert result.received == result.stored + result.quarantined + result.duplicates
    for rejection in result.rejected:
        assert rejection.reason in REASONS
        assert rejection.detail
        assert isinstance(rejection.payload, bytes)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=5))
def test_arbitrary_bytes(pipeline: Pipeline, payloads: list[bytes]) -> None:
    _check(pipeline, payloads)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(mutated(), min_size=1, max_size=6), st.booleans())
def test_mutated_messages(pipeline: Pipeline, messages: list[Any], as_array: bool) -> None:
    payloads: list[Any] = [orjson.dumps(messages)] if as_array else messages
    _check(pipeline, payloads)
