"""``python -m demo OUT_DIR ...``: write the demo company's files (see :mod:`demo`)."""
from demo.generate import main

raise SystemExit(main())
