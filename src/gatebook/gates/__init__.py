"""Gates: declarative checks that judge runs (PASS / MARGINAL / FAIL), live or after the fact.

``checks`` is the syntax tree of the check language, ``grammar`` parses it (no eval;
``check_lexer`` tokenizes, ``check_parser`` parses), ``spec`` loads gates from the project
file, ``evaluate`` is the pure judge, ``setup`` ties it to the ledger, ``live`` follows a
running run, ``playbook`` says what to try next, ``triage`` judges a run and launches its
next fix (`gate`, `triage`), ``stop`` stops a run from any shell. Tables: ``gatebook.render.gates``.
"""
