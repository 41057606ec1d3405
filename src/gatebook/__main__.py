from gatebook.cli import main

raise SystemExit(main())
