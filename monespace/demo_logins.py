"""The demo's logins: eID and itsme against their simulators, mounted in this app.

Only the app factory calls this, and only when the simulators are on (demo mode):

- the SAML IdP simulator is mounted at ``/simulators/eid`` and the itsme simulator at
  ``/simulators/itsme``, each with its own keys;
- our eID service provider and our itsme relying party are configured against them exactly
  as against the real FAS and itsme (metadata, JWK Sets, signed and encrypted messages); the
  itsme back channel (token endpoint, JWK Set) reaches the simulator inside the process.

Keys the demo needs are generated once into ``keys_dir`` (default ``<data_dir>/keys``;
several seconds, the first time only).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from flask import Flask

from idp_bridge import wiring
from idp_bridge.shared import nested_jwt
from idp_bridge.shared.db_stores import DatabaseRequestStore
from idp_bridge.shared.selfsigned import ensure_key_pair
from idp_bridge.shared.transport import wsgi_transport
from idp_bridge.simulators import itsme_op, saml_idp
from idp_bridge.upstreams import eid, itsme, saml_crypto
from idp_bridge.upstreams.base import Site
from monespace.config import Config
from monespace.demo import PERSONS

logger = logging.getLogger(__name__)

EID_SIMULATOR_PATH = "/simulators/eid"
ITSME_SIMULATOR_PATH = "/simulators/itsme"
DEMO_ITSME_CLIENT_ID = "monespace-demo"
DEMO_ITSME_SERVICE_CODE = "MONESPACE_DEMO"


def init_app(app: Flask) -> None:
    """Mount both simulators; hand the login pages our eID and itsme logins set against them."""
    config: Config = app.config["MONESPACE"]
    keys = Path(config.keys_dir)
    if not (keys / "itsme-op-enc.key").exists():
        logger.warning("generating the demo's login keys in %s (the first start only)...", keys)
    base = config.base_url
    site = wiring.site_of(config)

    # eID: our service provider, and the SAML IdP simulator that knows its metadata.
    eid_config = eid_config_of(config)
    idp = saml_idp.SamlIdpConfig(
        base_url=base + EID_SIMULATOR_PATH,
        data_dir=str(keys),
        sp_metadata=lambda: eid.sp_metadata(eid_config),
        persons=PERSONS,
        crypto_backend=eid_config.crypto_backend,
    )
    saml_idp.write_metadata(idp, eid_config.idp_metadata)
    app.register_blueprint(saml_idp.make_blueprint(idp))

    # itsme: our relying party, and the itsme simulator with our relying party registered.
    itsme_config = itsme.ItsmeConfig(
        issuer=base + ITSME_SIMULATOR_PATH,
        client_id=DEMO_ITSME_CLIENT_ID,
        service_code=DEMO_ITSME_SERVICE_CODE,
        redirect_uri=itsme.redirect_uri(site),
        signing_key=_rsa(keys, "itsme-rp-sig", "sig"),
        encryption_key=_rsa(keys, "itsme-rp-enc", "enc"),
    )
    simulator = itsme_op.ItsmeSimulatorConfig(
        issuer=itsme_config.issuer,
        signing_key=_rsa(keys, "itsme-op-sig", "sig"),
        encryption_key=_rsa(keys, "itsme-op-enc", "enc"),
        clients=(itsme_op.SimulatedClient.for_relying_party(itsme_config),),
        persons=simulated_persons(),
    )
    app.register_blueprint(itsme_op.make_blueprint(simulator))
    itsme_upstream = itsme.ItsmeUpstream(
        itsme_config,
        DatabaseRequestStore(itsme.UPSTREAM),
        transport=wsgi_transport(app, itsme_config.issuer),
    )
    app.extensions[wiring.EXTENSION] = {
        eid.PLUGIN.name: eid.upstream_for(eid_config),
        itsme.PLUGIN.name: itsme_upstream,
    }


def eid_config_of(config: Config) -> eid.EidConfig:
    """The demo's eID service provider (its key made on first use), against the simulator."""
    keys = Path(config.keys_dir)
    sp_key, sp_cert = ensure_key_pair(keys, "eid-sp", "Mon Espace eID SP (demo)")
    site: Site = wiring.site_of(config)
    # The one eID setting the demo takes (the others describe a real IdP): which backend signs
    # and checks, for the simulator and our SP alike (loadtests.login_bench compares them).
    backend = os.environ.get("MONESPACE_EID_CRYPTO_BACKEND") or saml_crypto.AUTO
    settings = eid.EidSettings(
        idp_metadata=str(keys / "eid-idp-simulator-metadata.xml"),
        key_file=str(sp_key),
        cert_file=str(sp_cert),
        crypto_backend=backend,
    )
    return eid.config_for(settings, site)


@functools.lru_cache(maxsize=16)
def _rsa(keys: Path, name: str, use: str) -> nested_jwt.RSAKey:
    key_file, _cert = ensure_key_pair(keys, name, f"Mon Espace {name} (demo)")
    return nested_jwt.rsa_key(key_file.read_bytes(), use)


def simulated_persons() -> tuple[itsme_op.SimulatedPerson, ...]:
    """The demo's persons, as the itsme simulator offers them."""
    return tuple(
        itsme_op.SimulatedPerson(p.key, p.nrn, p.given_name, p.family_name) for p in PERSONS
    )
