"""Fixtures of the mandate pages' tests: a firm beside the demo's Boulangerie, built through
the services (who is who: :mod:`tests.admin_ui.mandates.firm_world`)."""

from __future__ import annotations

import pytest

from authz.models import Enterprise, LegalRepresentation, Person
from authz.services import designate_gap, grant_role
from tests.admin_ui.mandates.firm_world import (
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


@pytest.fixture
def world(app) -> World:
    firm = Enterprise.create(bce=FIDU, name="Fidu Comptable SRL")
    LegalRepresentation.create(person=person(PAUL), enterprise=firm, capacity="gérant")
    designate_gap(as_(PAUL), FIDU, JEAN)
    grant_role(as_(JEAN), FIDU, EMMA, "access_manager")
    grant_role(as_(MARC), BOULANGERIE, NORA, "access_manager")
    Person.update(email="marc@boulangerie.test").where(Person.nrn == MARC).execute()
    Person.update(email="jean@fidu.test", language="nl").where(Person.nrn == JEAN).execute()
    return World(Enterprise.get(Enterprise.bce == BOULANGERIE), firm)
