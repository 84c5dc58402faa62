"""Whatever the main process does before the pool's workers start coding is serial time, the part
of a run that `-j N` cannot shorten: it plans a phantom sweep without generating the phantom
again (the datasets store has it), without scipy and without pandas (imported while the workers
code). The table is the same as an in-process run's."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from bench.datasets.phantom import open_phantom

PLAN_THEN_RUN = """
import json, sys
from bench.api import run
from bench.runner import RunConfig

seen = {}
def before_execute(plan):
    seen.update({name: name in sys.modules for name in ("pandas", "scipy")})
result = run(RunConfig(**json.loads(sys.argv[1])), out=sys.argv[2], before_execute=before_execute)
print(json.dumps({"before_execute": seen, "computed": result.cells_computed}))
"""


def test_a_pooled_run_plans_without_pandas_or_scipy_and_gives_the_in_process_table(tmp_path):
    from bench.api import run
    from bench.runner import RunConfig

    open_phantom("ct12,mr8")  # fills the store, as any earlier run on this data would
    config = {"codecs": ["jpeg", "jpeg2000"], "data": "phantom:ct12,mr8", "tasks": [], "limit": 2,
              "qualities": [30, 60], "jobs": 2, "device": "cpu", "cache_dir": str(tmp_path / "pooled-cache")}
    pooled = subprocess.run([sys.executable, "-c", PLAN_THEN_RUN, json.dumps(config), str(tmp_path / "pooled")],
                            capture_output=True, text=True, timeout=300)
    assert pooled.returncode == 0, pooled.stderr
    report = json.loads(pooled.stdout.strip().splitlines()[-1])
    assert report == {"before_execute": {"pandas": False, "scipy": False}, "computed": 8}

    in_process = run(RunConfig(**{**config, "jobs": 1, "cache_dir": str(tmp_path / "in-process-cache")}),
                     out=tmp_path / "in-process")
    timing = ["encode_s", "decode_s"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pooled" / "results.parquet").drop(columns=timing),
                                  in_process.results.drop(columns=timing).reset_index(drop=True), check_dtype=False)
