import sys

from graphormer.cli import main

sys.exit(main())
