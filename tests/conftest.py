"""One CPU precision answer for the whole suite.

``--precision auto`` (and ``train.precision: auto``) picks bf16 on a CPU only where a probe
measured it faster than fp32 (:mod:`vemd.device`). The suite pins the probe's answer to "bf16
slower", so ``auto`` means fp32 and every output is the same on any CPU that runs the tests;
subprocesses inherit it. The tests of the choice itself set the answer both ways
(tests/inference/test_precision.py).
"""

import os

os.environ["VEMD_CPU_BF16_SPEEDUP"] = "0.5"
