"""``python -m convviz.cli``: the ``convviz`` command (the site build's worker processes
run it this way, with the interpreter of the build)."""

import sys

from convviz.cli import main

sys.exit(main())
