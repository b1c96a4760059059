from nnet2.cli import main

raise SystemExit(main())
