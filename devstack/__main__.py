"""`python -m devstack` (what `./run` runs): the whole system on embedded defaults."""

import asyncio
import os
import sys

from devstack import main

if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    os._exit(code)  # see devstack.main: the SDK's interpreter-exit crash
