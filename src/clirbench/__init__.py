"""clirbench: a cross-lingual information retrieval study, from data to report."""

__version__ = "0.1.0"
