"""Charts and reports of runs: ``gatebook plot`` and ``gatebook report``.

- :mod:`gatebook.report.charts` gathers metric curves and gate thresholds from the ledger
  (plain data); :mod:`gatebook.report.plot` draws them with matplotlib (the ``plot`` extra,
  imported lazily with the Agg backend: nothing here imports matplotlib at module import).
- :mod:`gatebook.report.build` assembles a report (provenance, params, curves, gate
  verdicts, the comparison with a baseline, notes) as blocks (:mod:`gatebook.report.blocks`);
  :mod:`gatebook.report.html` renders them as self-contained HTML (images as data URIs),
  :mod:`gatebook.report.markdown` as Markdown, and :mod:`gatebook.report.write` writes the
  file (Markdown's images in ``<stem>_files/``).
"""
