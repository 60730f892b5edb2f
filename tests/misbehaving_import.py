"""A module that ends the process when imported (``SystemExit``): a target that cannot be imported.

Used by tests/test_cli_errors.py as ``misbehaving_import:GRU``; the checker must report it as a
usage error (exit 2, one line), not exit with the module's status.
"""

raise SystemExit("misbehaving_import: this module exits when imported")
