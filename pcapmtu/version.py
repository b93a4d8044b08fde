"""pcapmtu's version, in a module of its own so that any layer can name it without importing
the package's public surface (which imports the whole analysis)."""

__version__ = "0.1.0"
