"""The analysis itself: configuration, reading, cleaning, statistics, report and outputs."""
