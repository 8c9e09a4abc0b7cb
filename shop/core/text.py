"""Strings we are willing to store: no control characters, no lone surrogates.

JSON can carry ``"\\u0000"`` or an unpaired ``"\\ud800"``; PostgreSQL refuses the first and
UTF-8 cannot encode the second, so without this check such input becomes a 500.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def _clean(value: str) -> str:
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc" or category == "Cs":
            raise ValueError("control characters and lone surrogates are not allowed")
    return value


CleanStr = Annotated[str, AfterValidator(_clean)]
"""A string without control characters or lone surrogates; bound its length with Field."""
