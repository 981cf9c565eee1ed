"""The one error every loader raises for input it cannot use: a single line naming the file, where, and what."""
from __future__ import annotations


class MalformedFile(ValueError):
    """The file cannot be read as the format claims; str() is one line: file, row/entry, what is wrong."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line, whatever the parts held
