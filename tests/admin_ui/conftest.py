"""Fixtures of the admin_ui tests."""

from __future__ import annotations

import pytest

from authz.models import Enterprise, LegalRepresentation, Person
from authz.services import designate_gap, grant_role
from loadtests import admin_pages
from tests.admin_ui.mandates.firm_people import (
    BOULANGERIE,
    EMMA,
    FIDU,
    JEAN,
    MARC,
    NORA,
    PAUL,
    World,
    as_,
    person,
)
from tests.smtp_server import (
    MailSettings,
    free_port,
)


@pytest.fixture
def closed_port_settings() -> MailSettings:
    """Settings naming a port where nothing listens."""
    return MailSettings(smtp_port=free_port())


@pytest.fixture
def add_members(app):
    """Add generated members to the demo's Boulangerie (granted by its GAP, Marc), in bulk:
    ``add_members(count, requests=0, invitations=0)``; member ``k`` is named ``Member k``
    (zero-padded to 5 digits), NRN ``loadtests.admin_pages.member_nrn(k)``."""

    def add(count: int, *, requests: int = 0, invitations: int = 0) -> None:
        enterprise = Enterprise.get(Enterprise.bce == admin_pages.BOULANGERIE)
        gap = Person.get(Person.nrn == admin_pages.GAP_NRN)
        admin_pages.add_members(
            enterprise.id, gap.id, count, requests=requests, invitations=invitations
        )

    return add


@pytest.fixture
def world(app) -> World:
    """A firm beside the demo's Boulangerie, built through the services (who is who:
    :mod:`tests.admin_ui.mandates.firm_people`)."""
    firm = Enterprise.create(bce=FIDU, name="Fidu Comptable SRL")
    LegalRepresentation.create(person=person(PAUL), enterprise=firm, capacity="gérant")
    designate_gap(as_(PAUL), FIDU, JEAN)
    grant_role(as_(JEAN), FIDU, EMMA, "access_manager")
    grant_role(as_(MARC), BOULANGERIE, NORA, "access_manager")
    Person.update(email="marc@demo.monespace.invalid").where(Person.nrn == MARC).execute()
    Person.update(email="jean@demo.monespace.invalid").where(Person.nrn == JEAN).execute()
    return World(Enterprise.get(Enterprise.bce == BOULANGERIE), firm)
