from xdscp.cli import main

raise SystemExit(main())
