"""`python -m pcapmtu` runs the command line."""

from pcapmtu.cli import main

main()
