"""Fixtures of the admin_ui tests."""

from __future__ import annotations

import pytest

from tests.smtp_server import (
    MailSettings,
    free_port,
)


@pytest.fixture
def closed_port_settings() -> MailSettings:
    """Settings naming a port where nothing listens."""
    return MailSettings(smtp_port=free_port())
