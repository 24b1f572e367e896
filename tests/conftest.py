"""Test setup. TRITON_INTERPRET must be set before any module with @triton.jit is imported."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

from pathlib import Path  # noqa: E402

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
