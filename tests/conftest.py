"""Test setup. TRITON_INTERPRET must be set before any module with @triton.jit is imported.

The suite runs in parallel with pytest-xdist (``-n auto --dist loadgroup`` in pyproject's addopts;
``-n 0`` runs it in one process): every worker writes generated code to its own artifact cache, and tests
that start clusters of their own (Ray) share one ``xdist_group`` so that they run one after another.
"""

import os
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):  # gw0, gw1, …: one artifact cache per worker
    from econdsl.compiler.cache import cache_dir

    os.environ["ECONDSL_CACHE"] = str(cache_dir() / f"xdist-{_worker}")

# Workers for `-n auto`: the CPUs this process may use, at most MAX_WORKERS (each worker holds torch, a
# compiled model or two and a trainer: about 1 GB), unless PYTEST_XDIST_AUTO_NUM_WORKERS says otherwise.
MAX_WORKERS = 8

import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


@pytest.fixture
def models_dir() -> Path:
    return MODELS


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests use one torch thread: their tensors are small and CI's 2-core machine is shared, where intra-op
    threads only add contention (measured: docs/performance.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_xdist_auto_num_workers(config) -> int:
    if env := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(env)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked slow first (in their collection order otherwise): the workers start on the longest tests,
    so that none is left running a long test alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
