"""Entry point of ``python -m skt_lib``."""

import sys

from skt_lib.cli import main

sys.exit(main())
