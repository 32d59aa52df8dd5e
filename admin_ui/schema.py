"""Versions of the admin_ui tables (brought forward by ``monespace db upgrade``)."""

from admin_ui.models import ALL_MODELS, AdminUiSchemaInfo
from authz.schema import SchemaSet

# STEPS[n] takes the admin_ui tables from version n - 1 to n; version 1 is the first.
STEPS: dict = {}

ADMIN_UI = SchemaSet("admin_ui", AdminUiSchemaInfo, ALL_MODELS, STEPS)
