"""XML signatures of the eID login in process: a pysaml2 crypto backend on the ``xmlsec`` binding.

pysaml2 signs and verifies XML signatures (XML Signature Syntax and Processing 1.1, as profiled
by SAML Core section 5.4) by running the ``xmlsec1`` program once per signature, with the
message and the certificate in temporary files: a fork and an exec each time, most of an eID
login's cost. :class:`XmlsecBinding` does the same work with the ``xmlsec`` Python binding
(the same libxmlsec1, on lxml), in process, and keeps every restriction pysaml2 gives the
program on its command line (``CryptoBackendXmlSec1.validate_signature``):

- ``--enabled-reference-uris empty,same-doc``: a ``Reference`` whose URI is neither empty nor
  ``#...`` (a file, an http URL) is refused before anything is fetched;
- ``--enabled-key-data raw-x509-cert`` and ``--pubkey-cert-pem``: the key is the configured
  certificate's, set on the context, so the ``KeyInfo`` of the message (a certificate, a key
  value, a retrieval method) is never read, let alone trusted;
- ``--id-attr:ID <node name>``: only the ``ID`` attribute of elements of the signed element's
  name is an XML ID (a reference to any other element does not resolve), a duplicate refused;
- ``--node-id``: the signature checked is the first one inside the element with that ID.

Nothing is decrypted here: encrypted assertions are refused before any signature is checked
(``saml_checks.read_post``), so ``encrypt`` and ``decrypt`` refuse too.

Before each signature check pysaml2 validates the signed element against the SAML schemas (a
check against signature wrapping), with the pure-Python ``xmlschema`` package: about 3 ms per
element, two elements per eID login. :func:`check_schemas_with_libxml2` gives that check the
same schemas (pysaml2's own files, the protocol schema and what it imports) in libxml2, through
lxml, which the binding already depends on: about 0.1 ms. The check stays where pysaml2 makes
it and refuses the same way (``XMLSchemaError``, then ``SignatureError``).

:func:`resolve` picks the backend from the ``eid_crypto_backend`` setting; :func:`install`
puts it in a pysaml2 security context.
"""

from __future__ import annotations

import functools
import re
import threading
from importlib.resources import files
from pathlib import Path

import saml2.data.schemas
import saml2.sigver
from saml2 import SamlBase
from saml2.sigver import (
    CryptoBackend,
    DecryptError,
    EncryptError,
    RSACrypto,
    SecurityContext,
    SignatureError,
    Unsupported,
    import_rsa_key_from_file,
)
from saml2.xml.schema import XMLSchemaError

AUTO = "auto"
BINDING = "python-xmlsec"
COMMAND = "xmlsec1"
CHOICES = (AUTO, BINDING, COMMAND)

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATURE = f"{{{NS_DS}}}Signature"
_REFERENCE = f"{{{NS_DS}}}SignedInfo/{{{NS_DS}}}Reference"
_DECIMAL_REFERENCE = re.compile(r"&#([0-9]+);")


class CryptoChoiceError(ValueError):
    """The configured backend cannot be used here."""


@functools.cache
def binding_available() -> bool:
    """Whether the binding imports: it refuses to when lxml was built on another libxml2."""
    try:
        import xmlsec  # noqa: F401
    except Exception:  # ImportError, or xmlsec.InternalError on a libxml2 mismatch
        return False
    return True


def resolve(choice: str) -> str:
    """The backend ``choice`` means here: ``auto`` is the binding when it imports."""
    if choice not in CHOICES:
        raise CryptoChoiceError(f"unknown crypto backend {choice!r}; one of {', '.join(CHOICES)}")
    if choice == AUTO:
        return BINDING if binding_available() else COMMAND
    if choice == BINDING and not binding_available():
        raise CryptoChoiceError("the xmlsec Python package is not installed")
    return choice


def install(sec: SecurityContext, backend: str) -> SecurityContext:
    """Make ``sec`` sign and verify XML with ``backend`` (a :func:`resolve`d name)."""
    if backend == BINDING:
        check_schemas_with_libxml2()
        sec.crypto = XmlsecBinding()
        # pysaml2 builds the HTTP-Redirect signer only beside the xmlsec1 backend.
        if sec.sec_backend is None and sec.key_file:
            sec.sec_backend = RSACrypto(import_rsa_key_from_file(sec.key_file))
    return sec


class XmlsecBinding(CryptoBackend):
    """pysaml2's ``CryptoBackend`` contract (``sign_statement``, ``validate_signature``)."""

    @property
    def version(self) -> str:
        import xmlsec

        return ".".join(str(n) for n in xmlsec.get_libxmlsec_version())

    @property
    def version_nums(self) -> tuple[int, ...]:
        import xmlsec

        return tuple(xmlsec.get_libxmlsec_version())

    def sign_statement(self, statement, node_name: str, key_file: str, node_id: str | None) -> str:
        """Fill in the signature template inside the element ``node_id`` (as ``xmlsec1 --sign``)."""
        import xmlsec
        from lxml import etree

        if isinstance(statement, SamlBase):
            statement = str(statement)
        try:
            root = _parse(statement)
            context = xmlsec.SignatureContext()
            signature = _signature(context, root, node_name, node_id)
            context.key = _private_key(Path(key_file).read_bytes())
            context.sign(signature)
        except (xmlsec.Error, etree.LxmlError, OSError, ValueError) as exc:
            raise SignatureError(f"cannot sign {node_name}: {exc}") from exc
        # Written as xmlsec1 writes it: an XML declaration without encoding, non-ASCII
        # characters as character references.
        body = etree.tostring(root.getroottree(), encoding="us-ascii").decode("ascii")
        body = _DECIMAL_REFERENCE.sub(lambda m: f"&#x{int(m.group(1)):X};", body)
        return f'<?xml version="1.0"?>\n{body}\n'

    def validate_signature(
        self, signedtext, cert_file: str, cert_type: str, node_name: str, node_id: str | None
    ) -> bool:
        """True when the signature inside ``node_id`` verifies with ``cert_file``'s key; raise
        ``SignatureError`` otherwise (as the xmlsec1 backend does)."""
        import xmlsec
        from lxml import etree

        if cert_type != "pem":
            raise Unsupported("only PEM certificates")
        try:
            root = _parse(signedtext)
            context = xmlsec.SignatureContext()
            signature = _signature(context, root, node_name, node_id)
            for reference in signature.iterfind(_REFERENCE):
                uri = reference.get("URI")
                if uri and not uri.startswith("#"):
                    raise ValueError("a reference outside the document")
            context.set_enabled_key_data([xmlsec.constants.KeyDataRawX509Cert])
            context.key = _certificate_key(Path(cert_file).read_bytes())
            context.verify(signature)
        except (xmlsec.Error, etree.LxmlError, OSError, ValueError) as exc:
            raise SignatureError(f"{node_name} signature did not verify: {exc}") from exc
        return True

    def encrypt(self, *args, **kwargs):
        raise EncryptError("encryption is not used")

    def encrypt_assertion(self, *args, **kwargs):
        raise EncryptError("encryption is not used")

    def decrypt(self, enctext, key_file):
        raise DecryptError("encrypted assertions are not accepted")


def _parse(text):
    """The document, parsed as libxml2 would for xmlsec1, minus DTDs and entities."""
    from lxml import etree

    if isinstance(text, str):
        text = text.encode("utf-8")
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False
    )
    root = etree.fromstring(text, parser)
    if root.getroottree().docinfo.doctype:
        raise ValueError("a DTD in the document")
    return root


def _signature(context, root, node_name: str, node_id: str | None):
    """Register the IDs of the ``node_name`` elements (``--id-attr:ID``); the first Signature in
    the element ``node_id`` (``--node-id``), or in the document without one."""
    namespace, _, local = node_name.rpartition(":")
    ids: dict[str, object] = {}
    for element in root.iter(f"{{{namespace}}}{local}"):
        value = element.get("ID")
        if value is None:
            continue
        if value in ids:
            raise ValueError("duplicate ID attribute")
        context.register_id(element, "ID")
        ids[value] = element
    start = root
    if node_id is not None:
        start = ids.get(node_id)
        if start is None:
            raise ValueError(f"no {local} with that ID")
    signature = next(start.iter(_SIGNATURE), None)
    if signature is None:
        raise ValueError(f"no signature in the {local}")
    return signature


# Keys and certificates are read from their files every time (pysaml2 hands over a fresh
# temporary file for each check) but parsed once per content.
@functools.lru_cache(maxsize=32)
def _certificate_key(pem: bytes):
    import xmlsec

    return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)


@functools.lru_cache(maxsize=8)
def _private_key(pem: bytes):
    import xmlsec

    return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)


# pysaml2's schema files, and the two its schemas import by their W3C address.
_SCHEMAS = files(saml2.data.schemas)
_SCHEMA_ROOT = "saml-schema-protocol-2.0.xsd"
_SCHEMA_IMPORTS = {
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": (
        "xmldsig-core-schema.xsd"
    ),
    "http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd": "xenc-schema.xsd",
}
# Read once per process (see check_schemas_with_libxml2), under the lock, which each
# validation also holds: a schema object keeps the error log of its last validation.
_schema = None
_schema_lock = threading.Lock()


def check_schemas_with_libxml2() -> None:
    """Have pysaml2's schema check, before each signature check, run in libxml2 (process-wide:
    pysaml2 looks the check up by name at every call). The schemas are read now (as the app
    starts; the simulator installs it at its first request, under the same lock): libxml2
    reading them in two threads at once, or while a thread ends, may fail to resolve an import
    (the XML Encryption schema's elements then "do not resolve", and a genuine login would be
    refused)."""
    _shared_schema()
    saml2.sigver.validate_doc_with_schema = validate_with_libxml2


def _shared_schema():
    global _schema
    with _schema_lock:
        if _schema is None:
            _schema = _load_schema()
        return _schema


def validate_with_libxml2(document: str) -> None:
    """Raise ``XMLSchemaError`` unless ``document`` (a SAML protocol or assertion element) is
    valid against the SAML 2.0 protocol schema and the schemas it imports."""
    from lxml import etree

    schema = _schema if _schema is not None else _shared_schema()
    try:
        root = _parse(document)
    except (etree.LxmlError, ValueError) as exc:
        raise XMLSchemaError({"doc": document, "error": str(exc)}) from exc
    with _schema_lock:  # about 0.1 ms
        if schema.validate(root):
            return
        error = str(schema.error_log.last_error)
    raise XMLSchemaError({"doc": document, "error": error})


def _load_schema():
    from lxml import etree

    class LocalSchemas(etree.Resolver):
        def resolve(self, url, pubid, context):
            name = _SCHEMA_IMPORTS.get(url)
            if name is None:
                return None  # a relative file of the same directory, or nothing (no network)
            return self.resolve_filename(str(_SCHEMAS.joinpath(name)), context)

    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    parser.resolvers.add(LocalSchemas())
    return etree.XMLSchema(etree.parse(str(_SCHEMAS.joinpath(_SCHEMA_ROOT)), parser))
