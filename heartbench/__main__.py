import sys

from heartbench.cli import main

sys.exit(main())
