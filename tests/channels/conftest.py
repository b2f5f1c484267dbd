"""Fixtures for the channel tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import deliver_all as deliver


@pytest.fixture
def deliver_all(app: Any) -> Callable[..., None]:
    """Runs the worker and RQ's scheduler until no send is waiting (retries included)."""
    return deliver
