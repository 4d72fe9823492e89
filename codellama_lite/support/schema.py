"""Typed settings, validated once where they enter: the base class of recipe sections and data settings.

Every class derived from :class:`Section` is a pydantic model with strict types (an integer key refuses ``3.5`` and
``true``, a number key refuses ``"abc"``; a number key takes an integer), no unknown keys, and immutable values.
:func:`one_line` turns pydantic's report into the single line the CLI prints, naming each bad key by its dotted
path (``data.fim_rate``), as a user writes it after ``--set``.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class Section(BaseModel):
    """Strict, closed, frozen settings; :meth:`replace` is the validated way to derive a variant."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated (pydantic's ``model_copy(update=...)`` does not validate)."""
        return type(self).model_validate({**self.model_dump(), **changes})


def one_line(error: ValidationError, root: type[BaseModel] | None = None) -> str:
    """Each problem of ``error`` as ``key = value: reason``, joined on one line; with ``root`` (the validated
    class), an unknown key also lists the keys its section accepts."""
    return "; ".join(_describe(item, root) for item in error.errors())


def _describe(item: Any, root: type[BaseModel] | None) -> str:
    key = ".".join(str(part) for part in item["loc"])
    reason = item["msg"].removeprefix("Value error, ").removeprefix(f"{item['loc'][-1]}: " if item["loc"] else "")
    if item["type"] == "extra_forbidden":
        known = _keys_at(root, item["loc"][:-1])
        return f"{key}: unknown key" + (f"; expected one of {', '.join(known)}" if known else "")
    if item["type"] == "missing":
        return f"{key}: missing"
    if item["type"] in ("model_type", "dict_type") and item["loc"]:
        return f"{key} = {item['input']!r}: should be a table of keys"
    if not key:
        return reason
    if item["type"].startswith("value_error") and isinstance(item.get("input"), dict):
        return f"{key}: {reason}"  # a check across several keys of the section
    return f"{key} = {item['input']!r}: {reason}"


def _keys_at(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys (aliases where set) of the section of ``root`` at ``loc``; empty when ``loc`` is not a section."""
    model = root
    for part in loc:
        field = model.model_fields.get(str(part)) if model is not None else None
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())
