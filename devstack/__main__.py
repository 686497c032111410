"""`python -m devstack` (what `./run` runs): the whole system on embedded defaults.
`python -m devstack link`: a new one-time login link for a running ./run (another browser)."""

import asyncio
import os
import sys

from devstack import main, new_link

if __name__ == "__main__":
    if sys.argv[1:] == ["link"]:
        sys.exit(new_link())
    code = asyncio.run(main())
    sys.stdout.flush()
    os._exit(code)  # see devstack.main: the SDK's interpreter-exit crash
