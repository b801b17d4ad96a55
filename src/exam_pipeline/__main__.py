"""``python -m exam_pipeline``: the ``exam-pipeline`` command, for when its script is not on PATH."""

import sys

from .cli import main

sys.exit(main())
