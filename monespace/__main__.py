"""``python -m monespace``: the same as the ``monespace`` command."""

from monespace.cli import main

main()
