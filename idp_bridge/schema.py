"""Versions of the idp_bridge tables (brought forward by ``monespace db upgrade``)."""

from authz.schema import SchemaSet
from idp_bridge.models import ALL_MODELS, IdpBridgeSchemaInfo

# STEPS[n] takes the idp_bridge tables from version n - 1 to n; version 1 is the first.
STEPS: dict = {}

IDP_BRIDGE = SchemaSet("idp_bridge", IdpBridgeSchemaInfo, ALL_MODELS, STEPS)
