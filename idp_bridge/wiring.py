"""The upstream logins of one app, built from its configuration.

- **Demo mode, simulators on**: the SAML IdP simulator is mounted at ``/simulators/eid`` and the
  itsme simulator at ``/simulators/itsme``, each with its own keys; our eID service provider
  and our itsme relying party are configured against them exactly as against the real FAS and
  itsme (metadata, JWK Sets, signed and encrypted messages). The itsme back channel (token
  endpoint, JWK Set) reaches the simulator inside the process.
- **Otherwise**: eID is on when ``eid_idp_metadata`` is set, itsme when ``itsme_issuer`` is set,
  each from its own settings (README, "Logging in").

Keys the demo needs are generated once into ``keys_dir`` (default ``<data_dir>/keys``;
several seconds, the first time only); production keys are files the operator provides.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.db_stores import DatabaseRequestStore, DatabaseSeenStore
from idp_bridge.shared.selfsigned import ensure_key_pair
from idp_bridge.shared.transport import wsgi_transport
from idp_bridge.simulators import itsme_op, saml_idp
from idp_bridge.upstreams import fas
from idp_bridge.upstreams.eid import EidConfig, EidConfigError, EidUpstream, sp_metadata
from idp_bridge.upstreams.itsme import ItsmeConfig, ItsmeConfigError, ItsmeUpstream
from idp_bridge.upstreams.itsme_claims import UPSTREAM as ITSME

logger = logging.getLogger(__name__)

LOGIN_PATH = "/login"
EID_SIMULATOR_PATH = "/simulators/eid"
ITSME_SIMULATOR_PATH = "/simulators/itsme"
DEMO_ITSME_CLIENT_ID = "monespace-demo"
DEMO_ITSME_SERVICE_CODE = "MONESPACE_DEMO"


class LoginConfigError(ValueError):
    """An upstream login cannot be built from the configuration (IdP metadata, keys...)."""


@dataclass(frozen=True)
class Upstreams:
    eid: EidUpstream | None
    itsme: ItsmeUpstream | None
    eid_config: EidConfig | None


def eid_urls(base_url: str) -> dict[str, str]:
    """Our SAML entity id and assertion consumer service, under the public base URL."""
    return {
        "entity_id": f"{base_url}{LOGIN_PATH}/eid/metadata",
        "acs_url": f"{base_url}{LOGIN_PATH}/eid/acs",
    }


def itsme_redirect_uri(base_url: str) -> str:
    return f"{base_url}{LOGIN_PATH}/itsme/callback"


def build(app: Flask, config: Any) -> Upstreams:
    """The app's upstreams (``config`` is the app's :class:`monespace.config.Config`);
    :class:`LoginConfigError` says what cannot work."""
    try:
        return _build(app, config)
    except (EidConfigError, ItsmeConfigError) as exc:
        raise LoginConfigError(str(exc)) from None
    except OSError as exc:  # a key file that cannot be read
        raise LoginConfigError(f"{exc.filename}: {exc.strerror}") from None


def _build(app: Flask, config: Any) -> Upstreams:
    if config.simulators:
        return _with_simulators(app, config)
    eid_config = _eid_config(config) if config.eid else None
    eid = _eid(eid_config) if eid_config else None
    itsme = None
    if config.itsme:
        itsme = ItsmeUpstream(_itsme_config(config), DatabaseRequestStore(ITSME))
    if eid is None and itsme is None:
        logger.warning("no upstream login is configured: nobody can log in")
    return Upstreams(eid, itsme, eid_config)


def eid_config_of(config: Any) -> EidConfig | None:
    """The eID service provider's configuration alone (``monespace eid metadata``)."""
    if config.simulators:
        keys = _keys_dir(config)
        sp_key, sp_cert = ensure_key_pair(keys, "eid-sp", "Mon Espace eID SP (demo)")
        return EidConfig(
            **eid_urls(config.base_url),
            key_file=str(sp_key),
            cert_file=str(sp_cert),
            idp_metadata=str(keys / "eid-idp-simulator-metadata.xml"),
        )
    return _eid_config(config) if config.eid else None


def _keys_dir(config: Any) -> Path:
    return Path(config.keys_dir)


# Loading a private key costs about 0.2 s (the RSA checks of the cryptography library): an
# app built again in the same process (tests, a reload) reuses what was loaded. Bounded.
@functools.lru_cache(maxsize=4)
def _eid(eid_config: EidConfig) -> EidUpstream:
    return EidUpstream(
        eid_config, DatabaseRequestStore(fas.UPSTREAM), DatabaseSeenStore(fas.UPSTREAM)
    )


def _eid_config(config: Any) -> EidConfig:
    settings = config.eid
    return EidConfig(
        **eid_urls(config.base_url),
        key_file=settings["key_file"],
        cert_file=settings["cert_file"],
        idp_metadata=settings["idp_metadata"],
        idp_entity_id=settings["idp_entity_id"] or None,
        idp_metadata_cert=settings["idp_metadata_cert"] or None,
        clock_skew=settings["clock_skew"],
    )


def _itsme_config(config: Any) -> ItsmeConfig:
    settings = config.itsme
    return ItsmeConfig(
        issuer=settings["issuer"],
        client_id=settings["client_id"],
        service_code=settings["service_code"],
        redirect_uri=itsme_redirect_uri(config.base_url),
        signing_key=Path(settings["signing_key_file"]).read_bytes(),
        encryption_key=Path(settings["encryption_key_file"]).read_bytes(),
        acr=settings["acr"],
    )


@functools.lru_cache(maxsize=16)
def _rsa(keys: Path, name: str, use: str) -> nested_jwt.RSAKey:
    key_file, _cert = ensure_key_pair(keys, name, f"Mon Espace {name} (demo)")
    return nested_jwt.rsa_key(key_file.read_bytes(), use)


def _with_simulators(app: Flask, config: Any) -> Upstreams:
    keys = _keys_dir(config)
    if not (keys / "itsme-op-enc.key").exists():
        logger.warning("generating the demo's login keys in %s (the first start only)...", keys)
    base = config.base_url

    # eID: our service provider, and the SAML IdP simulator that knows its metadata.
    eid_config = eid_config_of(config)
    idp = saml_idp.SamlIdpConfig(
        base_url=base + EID_SIMULATOR_PATH,
        data_dir=str(keys),
        sp_metadata=lambda: sp_metadata(eid_config),
    )
    saml_idp.write_metadata(idp, eid_config.idp_metadata)
    app.register_blueprint(saml_idp.make_blueprint(idp))

    # itsme: our relying party, and the itsme simulator with our relying party registered.
    itsme_config = ItsmeConfig(
        issuer=base + ITSME_SIMULATOR_PATH,
        client_id=DEMO_ITSME_CLIENT_ID,
        service_code=DEMO_ITSME_SERVICE_CODE,
        redirect_uri=itsme_redirect_uri(base),
        signing_key=_rsa(keys, "itsme-rp-sig", "sig"),
        encryption_key=_rsa(keys, "itsme-rp-enc", "enc"),
    )
    simulator = itsme_op.ItsmeSimulatorConfig(
        issuer=itsme_config.issuer,
        signing_key=_rsa(keys, "itsme-op-sig", "sig"),
        encryption_key=_rsa(keys, "itsme-op-enc", "enc"),
        clients=(itsme_op.SimulatedClient.for_relying_party(itsme_config),),
    )
    app.register_blueprint(itsme_op.make_blueprint(simulator))
    itsme = ItsmeUpstream(
        itsme_config,
        DatabaseRequestStore(ITSME),
        transport=wsgi_transport(app, itsme_config.issuer),
    )
    return Upstreams(_eid(eid_config), itsme, eid_config)
