"""Make this directory importable, so the target "my_gru:MiniGRU" resolves from anywhere."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
