"""Versions of the OpenID provider's tables (brought forward by ``monespace db upgrade``)."""

from authz.schema import SchemaSet
from idp_bridge.oidc.models import ALL_MODELS, OidcSchemaInfo

# STEPS[n] takes the oidc tables from version n - 1 to n; version 1 is the first.
STEPS: dict = {}

OIDC = SchemaSet("oidc", OidcSchemaInfo, ALL_MODELS, STEPS)
