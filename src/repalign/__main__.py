"""``python -m repalign`` runs the command line."""

import sys

from repalign.cli import main

sys.exit(main())
