"""The fuzz tests: the whole app (demo data, both databases), driven through its WSGI test
client, with hypothesis profiles that keep each test bounded and its examples the same on
every run (``derandomize``), so CI is stable and a failure reproduces."""

from __future__ import annotations

import contextlib
import importlib
import warnings

from hypothesis import HealthCheck, Phase, settings

# One app serves every example of a test (building one per example would cost seconds each):
# the examples share its database, as a live service's requests do. No shrinking: each
# example is several requests, and shrinking them can take minutes; the failing example is
# printed whole, and reproduced by its @reproduce_failure blob.
FUZZ = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# On a failure, hypothesis's pytest plugin proposes a patch written with libcst when libcst is
# installed; releases of libcst warn on import (mypy_extensions.TypedDict), and with warnings
# as errors that warning, raised inside a pytest hook, ends the whole run in an internal error
# that hides the failure. Imported here once, quietly, it is not imported again then.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    importlib.import_module("hypothesis.extra._patching")
