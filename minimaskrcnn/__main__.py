"""``python -m minimaskrcnn ...``: see ``minimaskrcnn.cli``."""
from minimaskrcnn.cli import main

raise SystemExit(main())
