"""Trainer tests use one torch thread: their networks are tiny and the CI machine is shared, where
intra-op threads only add contention."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
