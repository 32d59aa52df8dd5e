"""One app process sending role requests, for the shared rate-limit test.

Run as ``python tests/admin_ui/limits_process.py DATABASE_URL DATA_DIR STORAGE KEY_PREFIX
LIMIT ATTEMPTS``: it builds the demo app (its own limiter, as any worker) with those rate-limit
settings, logs Alice in, prints ``ready``, waits for a line on stdin (so that the processes
send together), sends ``ATTEMPTS`` role requests and prints the status of each, one a line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.idp_bridge.web_client import Browser

ENTERPRISES = ("0123456749", "0403170701", "0202239951")


def ask(browser: Browser, bce: str):
    """Submit the role request form ("Ajouter une entreprise") for ``bce``."""
    page = browser.get("/entreprises/ajouter").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    form = {"csrf_token": token, "bce": bce, "role": "reader", "message": "Bonjour"}
    return browser.post("/entreprises/ajouter", data=form)


def main(database_url, data_dir, storage, key_prefix, limit, attempts) -> None:
    from monespace.app import create_app
    from tests.demo_app import app_settings

    app = create_app(
        app_settings(
            database_url,
            Path(data_dir),
            rate_limit_storage=storage,
            rate_limit_key_prefix=key_prefix,
            role_request_limit=limit,
        )
    )
    alice = Browser(app)
    alice.login("eid", "person:alice")
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(int(attempts)):
        print(ask(alice, ENTERPRISES[n % len(ENTERPRISES)]).status_code, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
