"""A small, deterministic demo grid so a new console is not empty.

The full simulator (physics, live data, labelled faults) will replace it; until then this grid is
written through the archive service exactly as an operator or an import would write it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import Engine

from e200 import archives
from e200.archives import (
    KINDS,
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
)
from e200.kernel import Scope

DEMO_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
_SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
             "Otieno", "Kamau", "Wanjiru", "Mwangi", "Achieng", "Njoroge"]  # fmt: skip
_REGIONS = [("NORTH", "North Region", 31.30, 121.45), ("SOUTH", "South Region", 31.10, 121.50)]


def load_demo_grid(engine: Engine, *, seed: int = 200, meters_per_transformer: int = 12) -> int:
    """Write the demo grid if the archive is empty; return how many assets were written."""
    rng = random.Random(seed)
    scope = Scope.everything()
    with engine.begin() as conn:
        if archives.list_org_units(conn, scope):
            return 0
        written = 0
        archives.create_org_unit(
            conn, OrgUnitIn(code="DEMO", name="Demo Power Company", kind="company"), scope
        )
        for code, region_name, lat0, lon0 in _REGIONS:
            archives.create_org_unit(
                conn, OrgUnitIn(code=code, name=region_name, kind="region", parent="DEMO"), scope
            )
            unit = f"{code}-OU1"
            archives.create_org_unit(
                conn,
                OrgUnitIn(code=unit, name=f"{region_name.split()[0]} City Operations",
                          kind="operating_unit", parent=code),
                scope,
            )  # fmt: skip
            for s in range(1, 3):
                sub = f"SS-{code[0]}{s:02d}"
                create = archives.create_asset
                create(
                    conn,
                    KINDS["substation"],
                    SubstationIn(
                        asset_number=sub,
                        name=f"{region_name.split()[0]} {s} 110 kV",
                        voltage_kv=110,
                        lat=lat0 + s * 0.02,
                        lon=lon0,
                        org_unit=unit,
                        valid_from=DEMO_SINCE,
                    ),
                    scope,
                )
                for f in range(1, 3):
                    feeder = f"{sub}-F{f}"
                    create(
                        conn,
                        KINDS["feeder"],
                        FeederIn(
                            asset_number=feeder,
                            name=f"Feeder {f}",
                            voltage_kv=10,
                            substation=sub,
                            valid_from=DEMO_SINCE,
                        ),
                        scope,
                    )
                    for t in range(1, 4):
                        dt = f"{feeder}-T{t}"
                        create(
                            conn,
                            KINDS["transformer"],
                            TransformerIn(
                                asset_number=dt,
                                name=f"Station area {sub[-3:]}-{f}{t}",
                                rated_kva=rng.choice([100, 200, 315, 400, 630]),
                                primary_rated_kv=10,
                                secondary_rated_v=400,
                                vector_group="Dyn11",
                                no_load_loss_kw=0.5,
                                load_loss_kw=4.0,
                                lat=lat0 + s * 0.02 + rng.uniform(-0.01, 0.01),
                                lon=lon0 + f * 0.01 + rng.uniform(-0.01, 0.01),
                                feeder=feeder,
                                valid_from=DEMO_SINCE,
                            ),
                            scope,
                        )
                        create(
                            conn,
                            KINDS["terminal"],
                            TerminalIn(
                                asset_number=f"TTU-{dt}",
                                name="Station-area terminal",
                                protocol="mqtt",
                                reporting_interval_min=15,
                                transformer=dt,
                                valid_from=DEMO_SINCE,
                            ),
                            scope,
                        )
                        written += 2
                        for m in range(1, meters_per_transformer + 1):
                            three = m % 10 == 0
                            create(conn, KINDS["meter"], MeterIn(
                                asset_number=f"M{rng.randrange(10**11, 10**12)}",
                                customer_account=f"CA{rng.randrange(10**7, 10**8)}",
                                customer_name=f"{rng.choice(_SURNAMES)} household {m}",
                                wiring="three_phase" if three else "single_phase",
                                phase="ABC" if three else "ABC"[m % 3],
                                tariff="residential", transformer=dt,
                                valid_from=DEMO_SINCE), scope)  # fmt: skip
                            written += 1
                    written += 1
                written += 1
        return written
