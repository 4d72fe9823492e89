"""``python -m codellama_lite`` is the ``codellama-lite`` command."""

import sys

from codellama_lite.cli import main

sys.exit(main())
