"""Reading a scenario definition's JSON: each reader checks one value's type and
names the place in its error, so a broken definition says where it is broken."""

from __future__ import annotations

from typing import Any

UNKNOWN_KEY = "{where}: unknown key {key!r}; expected one of {expected}."
NOT_AN_OBJECT = "{where} must be a JSON object."
NOT_A_LIST = "{where} must be a list."
MISSING_KEY = "{where} needs {key!r}."
BAD_VALUE = "{where}: {detail}"


class DefinitionError(ValueError):
    """The definition breaks a rule; the message says where and which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def as_object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DefinitionError(NOT_AN_OBJECT.format(where=where))
    return data


def as_list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise DefinitionError(NOT_A_LIST.format(where=where))
    return data


def items_of(root: dict[str, Any], key: str, where: str) -> list[tuple[int, Any]]:
    return list(enumerate(as_list(root.get(key, []), f"{where}'s {key!r}")))


def keys_check(item: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in item:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise DefinitionError(UNKNOWN_KEY.format(where=where, key=key, expected=expected))


def name_of(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise DefinitionError(BAD_VALUE.format(where=where, detail="expected a name."))
    return value


def text(item: dict[str, Any], key: str, where: str) -> str:
    if key not in item:
        raise DefinitionError(MISSING_KEY.format(where=where, key=key))
    value = item[key]
    if not isinstance(value, str) or not value:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=f"{key!r} must be text."))
    return value


def text_or_none(item: dict[str, Any], key: str, where: str) -> str | None:
    return text(item, key, where) if item.get(key) is not None else None


def flag(item: dict[str, Any], key: str, where: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"{key!r} must be true or false.")
        )
    return value


def whole(item: dict[str, Any], key: str, where: str) -> int:
    if key not in item:
        raise DefinitionError(MISSING_KEY.format(where=where, key=key))
    value = item[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"{key!r} must be a whole number.")
        )
    return value


def whole_or_none(item: dict[str, Any], key: str, where: str) -> int | None:
    return whole(item, key, where) if item.get(key) is not None else None


def number(item: dict[str, Any], key: str, where: str) -> float:
    value = item.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DefinitionError(BAD_VALUE.format(where=where, detail=f"{key!r} must be a number."))
    return float(value)
