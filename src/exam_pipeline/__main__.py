"""``python -m exam_pipeline``: the ``exam-pipeline`` command, for when its script is not on PATH."""

import sys

from exam_pipeline.cli import main

sys.exit(main())
