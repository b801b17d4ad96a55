"""One run's settings, shared by the CLI and every engine, checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from exam_pipeline.core.data import dataset_path
from exam_pipeline.core.validate import (
    require_alpha,
    require_encoding,
    require_file,
    require_output_dir,
    require_test,
)


@dataclass(frozen=True)
class RunConfig:
    """What to analyse, how, and where the outputs go.

    ``input=None`` means the bundled lesson data; ``db=None`` means ``sqlite:///<out>/results.db``;
    ``db="none"`` skips the database step.
    """

    input: Path | None = None
    out: Path = Path("output")
    engine: str = "pandas"
    test: str = "welch"
    alpha: float = 0.05
    group_col: str = "Class"
    value_col: str = "Score"
    db: str | None = None
    scheduler: str | None = None  # a Dask scheduler address (engine "dask") or luigid URL ("luigi")
    encoding: str | None = None  # the file's text encoding; None: a byte-order mark's, else UTF-8

    @property
    def source(self) -> Path:
        """The CSV file to read."""
        return Path(self.input) if self.input is not None else dataset_path()

    @property
    def db_url(self) -> str | None:
        """The SQLAlchemy URL to save the run to, or None to skip saving."""
        if self.db is None:
            return f"sqlite:///{(Path(self.out) / 'results.db').as_posix()}"
        return None if self.db.lower() == "none" else self.db

    def checked(self) -> RunConfig:
        """Return this config with paths normalised, or raise PipelineInputError."""
        require_alpha(self.alpha)
        require_test(self.test)
        out = require_output_dir(self.out)
        require_file(self.source)
        require_encoding(self.encoding)
        return replace(self, out=out)
