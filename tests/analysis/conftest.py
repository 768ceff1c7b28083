"""Analysis tests train many tiny heads: one intra-op thread avoids the spin-wait
overhead of a thread pool on a busy machine (results do not depend on it)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
