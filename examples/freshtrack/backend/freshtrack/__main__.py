"""`python3 -m freshtrack ...` runs the same CLI as the `freshtrack` command."""

from freshtrack.cli import main

raise SystemExit(main())
