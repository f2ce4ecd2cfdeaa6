from pulltrace.commands.main import main

raise SystemExit(main())
