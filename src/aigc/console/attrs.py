"""Attributes whose values come from data (names people typed), set without NiceGUI's parser.

``element.props('data-testid="x-{name}"')`` parses its text as ``key=value`` pairs, and a key
that starts with ``:`` is evaluated as JavaScript in the browser. A name holding a quote, such
as ``Eve" :data-x="alert(1)``, would add a prop of its own and run as script in the page of
whoever views it (stored XSS). Values set here are stored as they are: text, never markup.
"""

from __future__ import annotations

from typing import TypeVar

from nicegui import ui

E = TypeVar("E", bound=ui.element)


def attrs(element: E, values: dict[str, str]) -> E:
    """Set each attribute of ``values`` on ``element`` verbatim; returns the element."""
    for name, value in values.items():
        element._props[name] = value
    return element
