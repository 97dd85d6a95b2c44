"""`python -m mage`: the `mage` console script."""

import sys

from mage.cli import main

sys.exit(main())
