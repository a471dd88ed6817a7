"""``python -m aigov``: the same command line as the ``aigov`` script."""

from aigov.cli import main

main()
