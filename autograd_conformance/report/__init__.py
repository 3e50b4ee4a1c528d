"""Conformance reports: what every run of the suite leaves behind, and merging runs into a matrix.

One module per concern:

- ``collect``: the pytest side, collecting each test's outcome (outcomes.py) and writing the
  reports at the end of the run;
- ``journal`` and ``sentinel``: the append-only journal of a run, and the process that rebuilds
  the reports from it when the run's process dies outright;
- ``document``: the run report and the matrix as data (schema: report_schema.json), and merging;
- ``markdown``, ``html_page`` (style sheet: report.css): the two human-readable forms;
- ``write``: the files, for a run, a matrix, or a dead run's journal;
- ``__main__``: ``python -m autograd_conformance.report merge|rebuild``.
"""
