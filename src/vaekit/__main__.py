from vaekit.cli import main

raise SystemExit(main())
