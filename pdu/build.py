"""Building frozen, slotted dataclasses fast, for the untraced decoder.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__``, a quarter of the time of a whole decode; storing through
the slots' own descriptors takes a third of that.  The constructor is written
out field by field and compiled, as ``dataclasses`` writes ``__init__``: a loop
over the fields would cost back most of the gain.  Only for values the decoder
has already checked: no ``__post_init__`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar

_T = TypeVar("_T")


def slot_builder(cls: type[_T]) -> Callable[..., _T]:
    """``cls``'s constructor, positional in field order."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, object] = {"_new": object.__new__, "_cls": cls}
    scope.update({f"_set_{name}": getattr(cls, name).__set__ for name in names})
    source = (
        f"def build({', '.join(names)}):\n"
        "    obj = _new(_cls)\n"
        + "".join(f"    _set_{name}(obj, {name})\n" for name in names)
        + "    return obj\n"
    )
    exec(source, scope)  # the source is made of field names only
    build = scope["build"]
    assert callable(build)
    return build
