"""The exam analysis as a Metaflow flow (lesson 12): ``python exam_metaflow.py run --input ...``.

Metaflow runs each ``@step`` as its own process and stores every attribute set on ``self``
(``self.raw``, ``self.cleaned``, ...) in its datastore, so a later step, the client API and a
``resume`` can read them. The lesson runs it with ``metaflow.Runner`` and points the datastore
at its output folder (``METAFLOW_DATASTORE_SYSROOT_LOCAL``); ``METAFLOW_USER`` names the user
where ``USER`` is not set.
"""

from metaflow import FlowSpec, Parameter, step

from exam_pipeline.core.analysis import compare, split_groups, summarize_groups
from exam_pipeline.core.clean import clean_scores
from exam_pipeline.core.data import dataset_path, read_scores


class ExamFlow(FlowSpec):
    """load -> clean -> analyze -> end, one process per step."""

    source = Parameter("input", default=str(dataset_path()), help="CSV of exam scores")

    @step
    def start(self):
        self.raw, self.fmt = read_scores(self.source)
        self.next(self.clean)

    @step
    def clean(self):
        self.cleaned = clean_scores(self.raw, "Class", "Score", decimal=self.fmt.decimal)
        self.next(self.analyze)

    @step
    def analyze(self):
        frame, labels = self.cleaned.frame, self.cleaned.labels
        groups = split_groups(frame, "Class", "Score", self.source, labels)
        self.summaries = summarize_groups(groups, "Score", self.source)
        self.result = compare(self.summaries, "welch", "Score", self.source)
        self.next(self.end)

    @step
    def end(self):
        self.rows_dropped = self.cleaned.rows_dropped


if __name__ == "__main__":
    ExamFlow()
