"""``python -m gruverify``: the same as the ``gruverify`` command."""

import sys

from gruverify.cli import main

sys.exit(main())
