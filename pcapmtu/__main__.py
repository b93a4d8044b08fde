"""`python -m pcapmtu` runs the command line."""

from pcapmtu.start import command

if __name__ == "__main__":  # not when a helper process imports it (`page.Painter`)
    command()
