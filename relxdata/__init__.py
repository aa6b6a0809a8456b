"""relxdata: distant-supervision corpora for multilingual relation extraction."""

__version__ = "0.1.0"
