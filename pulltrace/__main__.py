from pulltrace.cli import main

raise SystemExit(main())
