"""`python -m pcapmtu` runs the command line."""

from pcapmtu.start import main

main()
