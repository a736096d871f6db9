"""``benchmarks/bench_gpu.py`` runs (on the CPU, tiny sizes) so that it cannot rot.

A smoke test, not a benchmark: it asserts that every figure is printed, never a
timing.
"""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / 'benchmarks' / 'bench_gpu.py'


@pytest.mark.slow
def test_bench_gpu_quick_on_the_cpu() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), '--device', 'cpu', '--quick'],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for figure in (
        'train FCN-16             fp32',
        'train U-Net ResNet-18    bf16',
        'QR loss (forward + backward)',
        'loader, 0 workers',
        'loader, 2 workers',
        'of the time waiting for data',
        '/ FCN training rate',
        'export (q, r, map)',
        'peak memory, training batch',
        'peak memory, evaluation batch',
    ):
        assert figure in out, out
