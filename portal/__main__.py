"""`python -m portal`: the partner portal under uvicorn (what `./run` and the compose service
start). PARTNERFLOW_PORTAL_HOST (default 127.0.0.1) and PARTNERFLOW_PORTAL_PORT (default
8040) say where it listens; DATABASE_URL, TEMPORAL_* and the key ring as for the starter."""

import os
import sys

import uvicorn

import config
from portal.app import create_app


def main() -> int:
    try:
        app = create_app()
    except config.NotConfigured as e:
        print(f"the portal cannot start: {e}", file=sys.stderr)
        return 7
    host = os.environ.get("PARTNERFLOW_PORTAL_HOST", "127.0.0.1")
    port = int(os.environ.get("PARTNERFLOW_PORTAL_PORT", "8040"))
    # No access log: the first-login link carries its one-time token in the query string,
    # which an access log would keep.
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
