"""Text from outside leadscore (CRM values, config paths, error messages) made safe to print.

Rich reads ``[...]`` as markup: a CRM value such as ``[/bold]`` would crash the printing
(MarkupError), ``[link=...]`` would turn into a hyperlink and ``[ids: 1]`` would vanish.
Control characters in a CRM value (an escape sequence, a carriage return) could rewrite the
admin's terminal. Every string we did not write ourselves goes through :func:`shown` before it
reaches rich markup, and through :func:`clean` before it reaches plain output.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape

# C0 and C1 controls, DEL, and the bidirectional overrides that can reorder what a line shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """``value`` as one line of text with every control character replaced by a space."""
    return _CONTROL.sub(" ", str(value))


def shown(value: Any) -> str:
    """``value`` cleaned and escaped, to embed in rich markup (tables, ``console.print``)."""
    return escape(clean(value))
