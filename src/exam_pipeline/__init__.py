"""Data Pipelines in Python: the finished, tested code that the lessons build by hand.

One analysis runs through the suite: exam scores of two classes are loaded, cleaned,
summarised, drawn as a boxplot, tested with an independent t-test and reported.
"""

__version__ = "0.1.0"
