"""The rules' screens (their values column-wise, numpy) against ``value_fn``, the definition: the
engine skips a reading for a rule only when the screen puts it surely inside the clear band, so
a screen may differ from ``value_fn`` by float rounding but must never be NaN (None) where
``value_fn`` gives a value; the frozen-value fingerprint's screen is exact."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np

from e200.alarms.catalog import READING_RULES, Columns, Reading
from e200.alarms.engine import _QUANTITIES, _RATING, SCREEN_MARGIN


def _random_reading(rng: random.Random) -> Reading:
    def maybe(value: float) -> float | None:
        return None if rng.random() < 0.1 else value

    v = 230.9 * rng.choice((1.0, rng.uniform(0.0, 1.3)))
    i = rng.choice((0.0, 115.5, rng.uniform(0.0, 900.0)))
    values: dict[str, float | None] = {q: maybe(rng.uniform(-50.0, 150.0)) for q in _QUANTITIES}
    values |= {q: maybe(v * rng.choice((1.0, rng.uniform(0.0, 1.2)))) for q in
               ("v_a_v", "v_b_v", "v_c_v")}  # fmt: skip
    values |= {q: maybe(i * rng.choice((1.0, rng.uniform(0.0, 2.0)))) for q in
               ("i_a_a", "i_b_a", "i_c_a")}  # fmt: skip
    values |= {"pf": maybe(rng.uniform(-1.0, 1.0)), "freq_hz": maybe(rng.uniform(49.5, 50.5)),
               "s_kva": maybe(rng.choice((80.0, rng.uniform(0.0, 700.0)))),
               "p_kw": maybe(rng.uniform(-200.0, 600.0)),
               "q_kvar": maybe(rng.uniform(0.0, 300.0))}  # fmt: skip
    kva = rng.choice((400.0, 100.0, 0.0))
    rating = {"s_rated": kva, "v_phase": rng.choice((230.9, 0.0)),
              "i_rated": kva * 1000 / (230.9 * 3), "no_load_loss_kw": maybe(0.5),
              "load_loss_kw": maybe(rng.choice((4.0, 0.0)))}  # fmt: skip
    return Reading(ts=datetime(2026, 1, 1, tzinfo=UTC), interval_min=15, values=values,
                   rating=rating)  # fmt: skip


def test_screens_equal_value_fn_up_to_rounding_and_never_miss_a_value() -> None:
    rng = random.Random(7)
    readings = [_random_reading(rng) for _ in range(20_000)]
    as_array = lambda rows: np.array(rows, dtype=np.float64)  # noqa: E731
    cols = Columns(
        values={q: as_array([r.values.get(q) for r in readings]) for q in _QUANTITIES},
        rating={k: as_array([r.rating.get(k) for r in readings]) for k in _RATING},
    )
    for spec in READING_RULES:
        assert spec.screen is not None
        with np.errstate(all="ignore"):
            column = spec.screen(cols).tolist()
        present = 0
        for r, got in zip(readings, column, strict=True):
            want = spec.value_fn(r)
            if spec.condition == "frozen":  # exact: the engine keeps it as the previous value
                assert got == want or (want is None and got != got), (r, got, want)
            if want is None:
                continue  # NaN or a value: either is allowed (a looser guard)
            present += 1
            assert abs(got - round(want, 4)) < SCREEN_MARGIN / 10, (spec.key, r, got, want)
        assert present > 1000, spec.key  # the random readings reach every rule's value
