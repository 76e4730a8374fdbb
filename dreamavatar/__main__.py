from dreamavatar.cli import main

raise SystemExit(main())
