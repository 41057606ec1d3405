"""``python -m gatebook``: the same command line as the ``gatebook`` executable."""

from gatebook.cli import main

raise SystemExit(main())
