from embedview.cli import main

raise SystemExit(main())
