"""Fixtures of the idp_bridge tests: the upstream logins wired to their simulators.

``saml_keys`` and ``world``: the eID service provider and the SAML IdP simulator
(:mod:`tests.idp_bridge.saml_messages`); ``itsme_keys`` and ``itsme``: our itsme relying party
and the itsme simulator (:mod:`tests.idp_bridge.itsme_login`). Keys are generated once per run.
"""

from __future__ import annotations

import pytest

from idp_bridge.upstreams import saml_crypto
from tests.idp_bridge import itsme_keys as itsme_key_set
from tests.idp_bridge import itsme_login, saml_messages


@pytest.fixture(scope="session")
def saml_keys(tmp_path_factory) -> saml_messages.Keys:
    return saml_messages.make_keys(tmp_path_factory.mktemp("saml-keys"))


@pytest.fixture(params=[saml_crypto.BINDING, saml_crypto.COMMAND])
def world(request, saml_keys) -> saml_messages.World:
    """The eID service provider and the SAML IdP simulator, fresh stores; once with each
    crypto backend (both sign and verify with it)."""
    backend = request.param
    return saml_messages.make_eid(
        saml_keys, idp={"crypto_backend": backend}, crypto_backend=backend
    )


@pytest.fixture(scope="session")
def itsme_keys() -> itsme_key_set.Keys:
    return itsme_key_set.generate()


@pytest.fixture
def itsme(itsme_keys) -> itsme_login.World:
    """Our itsme relying party and the itsme simulator, one fake clock for both."""
    return itsme_login.make_itsme(itsme_keys)
