"""One CPU precision answer for the whole suite.

``--precision auto`` (and ``train.precision: auto``) picks bf16 on a CPU only where a probe
measured it faster than fp32 (:mod:`vemd.device`). The suite pins the probe's answer to "bf16
slower", so ``auto`` means fp32 and every output is the same on any CPU that runs the tests;
subprocesses inherit it. The tests of the choice itself set the answer both ways
(tests/inference/test_precision.py).
"""

import os

os.environ["VEMD_CPU_BF16_SPEEDUP"] = "0.5"


def pytest_collection_modifyitems(config, items):
    """Modules holding a ``slow`` test run first, each module's tests kept together (its module
    fixtures are built once): with ``pytest -n 2 --dist worksteal`` a worker that finishes early
    takes short tests from the other's queue, instead of one long test running alone at the end."""
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow_modules)  # stable: collection order within
