"""Exceptions raised by ptlite beyond Python's built-in ones."""
from ._C import ModelFormatError, UnsupportedError

__all__ = ["ModelFormatError", "UnsupportedError"]
