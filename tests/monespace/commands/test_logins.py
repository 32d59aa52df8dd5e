"""``monespace eid metadata``: the SP metadata for the eID IdP's operator."""

from __future__ import annotations

from idp_bridge.shared.selfsigned import ensure_key_pair
from idp_bridge.simulators.saml_idp import SamlIdpConfig, write_metadata
from tests.monespace.conftest import run_cli


def configure_eid(monkeypatch, tmp_path) -> None:
    key, cert = ensure_key_pair(tmp_path / "sp", "sp", "Mon Espace SP (tests)")
    idp = SamlIdpConfig(base_url="https://fas.example.test/idp", data_dir=str(tmp_path / "idp"))
    monkeypatch.setenv("MONESPACE_EID_IDP_METADATA", str(write_metadata(idp, tmp_path / "i.xml")))
    monkeypatch.setenv("MONESPACE_EID_KEY_FILE", str(key))
    monkeypatch.setenv("MONESPACE_EID_CERT_FILE", str(cert))


def test_metadata_names_our_entity_and_assertion_consumer(cli_env, monkeypatch, tmp_path, capsys):
    configure_eid(monkeypatch, tmp_path)
    status, out, _err = run_cli(capsys, "eid", "metadata")
    assert status == 0
    assert 'entityID="https://id.example.test/login/eid/metadata"' in out
    assert 'Location="https://id.example.test/login/eid/acs"' in out
    assert 'AuthnRequestsSigned="true"' in out and 'WantAssertionsSigned="true"' in out
    assert "Signature" not in out


def test_signed_metadata_written_to_a_file(cli_env, monkeypatch, tmp_path, capsys):
    configure_eid(monkeypatch, tmp_path)
    target = tmp_path / "sp-metadata.xml"
    status, _out, err = run_cli(
        capsys, "eid", "metadata", "--sign", "--valid-hours", "24", "--output", str(target)
    )
    assert status == 0 and str(target) in err
    xml = target.read_text(encoding="utf-8")
    assert "SignatureValue" in xml and "validUntil=" in xml


def test_without_an_eid_configuration_it_says_what_to_set(cli_env, capsys):
    status, out, err = run_cli(capsys, "eid", "metadata")
    assert status == 1 and out == ""
    assert "MONESPACE_EID_IDP_METADATA" in err


def test_half_an_eid_configuration_is_refused(cli_env, monkeypatch, tmp_path, capsys):
    configure_eid(monkeypatch, tmp_path)
    monkeypatch.delenv("MONESPACE_EID_KEY_FILE")
    status, _out, err = run_cli(capsys, "eid", "metadata")
    assert status == 1
    assert "MONESPACE_EID_KEY_FILE is needed" in err
