"""`python -m portal`: the partner portal under uvicorn (what `./run` and the compose service
start). PARTNERFLOW_PORTAL_HOST (default 127.0.0.1) and PARTNERFLOW_PORTAL_PORT (default
8040) say where it listens; DATABASE_URL, TEMPORAL_* and the key ring as for the starter."""

import sys

import uvicorn

import config
from portal.app import create_app
from portal.settings import settings_from_environment


def main() -> int:
    try:
        common = config.Settings.from_environment()
        config.use_business_zones(common)
        settings = settings_from_environment(common)
        app = create_app(settings)
    except config.NotConfigured as e:
        print(f"the portal cannot start: {e}", file=sys.stderr)
        return 7
    # No access log: the first-login link carries its one-time token in the query string,
    # which an access log would keep.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        server_header=False,
        # an idle connection stays open longer than a proxy's (or a browser's) own idle limit,
        # so that neither sends a request on a connection the portal is closing that instant
        timeout_keep_alive=75,
        # the client's address from the proxies named, else the connection's
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
