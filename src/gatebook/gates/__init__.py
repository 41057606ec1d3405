"""Gates: declarative checks that judge runs (PASS / MARGINAL / FAIL), live or after the fact.

``checks`` is the syntax tree of the check language, ``grammar`` parses it (no eval),
``spec`` loads gates from the project file, ``evaluate`` is the pure judge, ``live``
follows a running run, ``playbook`` says what to try next.
"""
