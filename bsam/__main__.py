import sys

from bsam.cli import main

sys.exit(main())
