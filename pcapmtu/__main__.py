"""`python -m pcapmtu` runs the command line."""

from pcapmtu.start import command

if __name__ == "__main__":  # run, not imported (a spawned worker process imports it)
    command()
