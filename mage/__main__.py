import sys

from mage.cli import main

sys.exit(main())
