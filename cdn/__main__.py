from cdn.cli import main

raise SystemExit(main())
