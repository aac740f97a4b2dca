"""SNS subscription filter policies, checked and evaluated the way AWS documents them.

Why this module exists: moto 5.2.5 filters differently from AWS (shared FIELD-NOTES:
it rejects ``cidr``, overcounts ``$or`` complexity, fails Publish with HTTP 500 on
some body-scope policies, and accepts policies AWS refuses). Flowdash validates a
policy here before sending it anywhere, and evaluates messages here to show what AWS
would deliver next to what the embedded backend did.

AWS's rules, from the SNS developer guide ("Filter policy constraints", "Key
matching", "String/Numeric value matching", "AND/OR logic"):

- At most 5 keys. In MessageBody scope only top-level keys count; each ``$or``
  alternative is counted as the policy SNS would evaluate once it picks that branch.
- At most 150 combinations: multiply the number of values of every array; a key
  nested d levels deep counts d times its values (AWS: "3 x 4 x 2 x 3 = 72"), and the
  alternatives of an ``$or`` add up ((source*metricName) + (source*metricType*...)).
- Numbers between -10^9 and 10^9, compared to five decimal places. Policies up to 256 KB.
- Nested objects only in MessageBody scope. ``$or`` is an operator only when it holds
  at least two objects, none of them using an operator name as a key.
- ``exists: false`` matches only messages that carry at least one attribute.
- ``exists: true`` matches only non-null leaf values.
- Arrays (String.Array attributes, arrays in the body) match when any element does,
  except ``anything-but`` on a String.Array, which needs no element to be excluded
  (current docs; the body example still says one non-excluded element is enough).
- ``anything-but`` takes a value, a list of only strings or only numbers, or
  ``{"prefix": ...}``; AWS answered "Unsupported anything-but pattern: suffix" (2024).
"""

from __future__ import annotations

import ipaddress
import json
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidInput

ATTRIBUTES: Final = "MessageAttributes"
BODY: Final = "MessageBody"
SCOPES: Final = (ATTRIBUTES, BODY)
MAX_KEYS: Final = 5
MAX_COMBINATIONS: Final = 150
MAX_POLICY_BYTES: Final = 256 * 1024
NUMBER_LIMIT: Final = 1_000_000_000
OPERATORS: Final = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr"}
)
STRING_OPERATORS: Final = ("prefix", "suffix", "equals-ignore-case")
ANYTHING_BUT_NESTABLE: Final = frozenset({"prefix"})
COMPARISONS: Final[dict[str, Callable[[float, float], bool]]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
LOWER_BOUNDS: Final = frozenset({">", ">="})
UPPER_BOUNDS: Final = frozenset({"<", "<="})
FIELD: Final = "filter_policy"


@dataclass(frozen=True, slots=True)
class FilterResult:
    """Whether SNS would deliver the message; if not, which key and condition stopped it."""

    matched: bool
    reason: str | None


def filter_policy_validate(
    policy: str | dict[str, Any], *, scope: str = ATTRIBUTES
) -> dict[str, Any]:
    """Parse ``policy`` and apply AWS's rules, so nothing AWS would refuse reaches moto."""
    _check_scope(scope)
    try:
        text = policy if isinstance(policy, str) else json.dumps(policy)
    except (TypeError, ValueError) as exc:
        raise _invalid(f"Filter policy cannot be written as JSON: {exc}") from exc
    size = len(text.encode())
    if size > MAX_POLICY_BYTES:
        raise _invalid(f"Filter policy is {size} bytes; AWS allows at most 256 KB")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"Filter policy is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(parsed, dict):
        raise _invalid(f"Filter policy must be a JSON object, not {_json_type(parsed)}")
    _check_node(parsed, scope=scope, path="")
    keys = _max_keys(parsed)
    if keys > MAX_KEYS:
        has_or = any(_is_or(key, spec) for key, spec in parsed.items())
        where = " in its largest $or alternative" if has_or else ""
        raise _invalid(f"Filter policy has {keys} top-level keys{where}; AWS allows at most 5")
    combinations = _combinations(parsed, depth=1)
    if combinations > MAX_COMBINATIONS:
        raise _invalid(
            f"Filter policy allows {combinations} combinations of values; AWS allows at most 150"
        )
    return parsed


def filter_policy_evaluate(
    policy: dict[str, Any],
    *,
    scope: str = ATTRIBUTES,
    message_attributes: Mapping[str, Mapping[str, str]] | None = None,
    body: str = "",
    validated: bool = False,
) -> FilterResult:
    """Decide as SNS would whether a subscription with ``policy`` gets this message.

    ``message_attributes`` may be in Publish shape (DataType/StringValue) or in the
    shape of an SNS envelope (Type/Value). Binary attributes are ignored, as SNS does.
    ``validated``: ``policy`` is what ``filter_policy_validate`` returned, so the check
    (most of the cost of a call) is not repeated for every copy of every publication.
    """
    checked = policy if validated else filter_policy_validate(policy, scope=scope)
    if scope == ATTRIBUTES:
        attributes = message_attributes or {}
        document: dict[str, Any] = {}
        for name, attribute in attributes.items():
            kind = str(attribute.get("DataType") or attribute.get("Type") or "String")
            if not kind.startswith("Binary"):
                document[name] = _attribute_value(kind, attribute)
        context = _Context(scope=scope, has_attributes=bool(attributes))
    else:
        try:
            parsed = json.loads(body)
        except ValueError:
            return FilterResult(
                False, "the message body is not JSON, so a MessageBody policy matches nothing"
            )
        if not isinstance(parsed, dict):
            return FilterResult(
                False,
                f"the message body is {_json_type(parsed)} in JSON, not an object, "
                "so a MessageBody policy matches nothing",
            )
        document = parsed
        context = _Context(scope=scope, has_attributes=True)
    reason = _match_node(checked, document, "", context)
    return FilterResult(reason is None, reason)


# --- validation ---------------------------------------------------------------------------


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, field=FIELD)


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise InvalidInput(
            f"scope must be MessageAttributes or MessageBody, not {scope!r}",
            field="filter_policy_scope",
        )


def _is_or(key: str, spec: Any) -> bool:
    """AWS's three conditions for ``$or``; otherwise it is an ordinary key name."""
    return (
        key == "$or"
        and isinstance(spec, list)
        and len(spec) >= 2
        and all(isinstance(branch, dict) for branch in spec)
        and not any(name in OPERATORS for branch in spec for name in branch)
    )


def _check_node(node: dict[str, Any], *, scope: str, path: str) -> None:
    for key, spec in node.items():
        name = f"{path}{key}"
        if _is_or(key, spec):
            for branch in spec:
                _check_node(branch, scope=scope, path=path)
        elif isinstance(spec, dict):
            if scope == ATTRIBUTES:
                raise _invalid(
                    f"Filter policy key '{name}' holds a nested object; "
                    "nested keys are allowed only in MessageBody scope"
                )
            _check_node(spec, scope=scope, path=f"{name}.")
        elif isinstance(spec, list):
            if not spec:
                raise _invalid(f"Filter policy key '{name}' has an empty array; AWS needs a value")
            for value in spec:
                _check_value(name, value)
        else:
            allowed = "an array of values" + (" or a nested object" if scope == BODY else "")
            raise _invalid(
                f"Filter policy key '{name}' must hold {allowed}, not {_json_type(spec)}"
            )


def _check_value(name: str, value: Any) -> None:
    if value is None or isinstance(value, (str, bool)):
        return
    if _is_number(value):
        _check_number(name, value)
    elif isinstance(value, dict):
        _check_operator(name, value)
    else:
        raise _invalid(
            f"Values for key '{name}' must be strings, numbers, true, false, null "
            f"or operator objects, not {_json_type(value)}"
        )


def _check_number(name: str, value: float) -> None:
    if not -NUMBER_LIMIT <= value <= NUMBER_LIMIT:
        raise _invalid(
            f"Number {_show(value)} for key '{name}' is outside AWS's range "
            "of -1,000,000,000 to 1,000,000,000"
        )


def _check_operator(name: str, condition: dict[str, Any]) -> None:
    if len(condition) != 1:
        listed = ", ".join(condition) or "none"
        raise _invalid(
            f"Operator object for key '{name}' has {len(condition)} keys ({listed}); "
            "AWS allows exactly one operator per object"
        )
    ((op, arg),) = condition.items()
    if op not in OPERATORS:
        raise _invalid(f"Unknown operator '{op}' for key '{name}'")
    if op in STRING_OPERATORS:
        _need_string(name, op, arg)
    elif op == "exists":
        if not isinstance(arg, bool):
            raise _invalid(f"exists for key '{name}' must be true or false, not {_json_type(arg)}")
    elif op == "cidr":
        _need_string(name, op, arg)
        if "/" not in arg:
            raise _invalid(f"cidr for key '{name}' must use CIDR notation such as 10.0.0.0/24")
        try:
            ipaddress.ip_network(arg, strict=False)
        except ValueError as exc:
            raise _invalid(f"cidr for key '{name}' is not a valid IP network: {exc}") from exc
    elif op == "numeric":
        _check_numeric(name, arg)
    else:
        _check_anything_but(name, arg)


def _need_string(name: str, op: str, arg: Any) -> None:
    if not isinstance(arg, str):
        raise _invalid(f"{op} for key '{name}' must be a string, not {_json_type(arg)}")


def _check_anything_but(name: str, arg: Any) -> None:
    if isinstance(arg, dict):
        if len(arg) != 1 or not ANYTHING_BUT_NESTABLE.issuperset(arg):
            inner = ", ".join(arg) or "nothing"
            raise _invalid(
                f"anything-but for key '{name}' cannot hold {inner}; "
                'AWS allows only {"prefix": ...} inside anything-but'
            )
        _need_string(name, "anything-but prefix", arg["prefix"])
        return
    items = arg if isinstance(arg, list) else [arg]
    if not items:
        raise _invalid(f"anything-but for key '{name}' has an empty list")
    if all(isinstance(item, str) for item in items):
        return
    if all(_is_number(item) for item in items):
        for item in items:
            _check_number(name, item)
        return
    raise _invalid(
        f"anything-but for key '{name}' must be a string, a number, "
        "or a list of only strings or only numbers"
    )


def _check_numeric(name: str, arg: Any) -> None:
    example = '[">=", 100] or [">", 0, "<=", 150]'
    if not isinstance(arg, list) or not arg:
        raise _invalid(f"numeric for key '{name}' must be a list such as {example}")
    if len(arg) > 4:
        raise _invalid(
            f"numeric for key '{name}' has {len(arg)} terms; AWS allows one lower "
            f"and one upper bound, such as {example}"
        )
    pairs: list[tuple[str, float]] = []
    for index in range(0, len(arg), 2):
        op = arg[index]
        if not isinstance(op, str) or op not in COMPARISONS:
            raise _invalid(
                f"Unknown numeric operator {_show(op)} for key '{name}'; use =, <, <=, > or >="
            )
        number: Any = arg[index + 1] if index + 1 < len(arg) else None
        if not _is_number(number):
            got = "nothing" if index + 1 >= len(arg) else _json_type(number)
            raise _invalid(
                f"numeric operator '{op}' for key '{name}' needs a number after it, not {got}"
            )
        _check_number(name, number)
        pairs.append((op, number))
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in LOWER_BOUNDS or high_op not in UPPER_BOUNDS:
            raise _invalid(
                f"numeric range for key '{name}' must be a lower bound (> or >=) then an "
                f"upper bound (< or <=), not '{low_op}' then '{high_op}'"
            )
        if low >= high:
            raise _invalid(
                f"numeric range for key '{name}' is empty: lower bound {_show(low)} "
                f"is not below upper bound {_show(high)}"
            )


def _max_keys(node: dict[str, Any]) -> int:
    """Top-level keys of the largest policy an ``$or`` choice can produce."""
    plain = sum(1 for key, spec in node.items() if not _is_or(key, spec))
    chosen = sum(
        max(_max_keys(branch) for branch in spec) for key, spec in node.items() if _is_or(key, spec)
    )
    return plain + chosen


def _combinations(node: dict[str, Any], *, depth: int) -> int:
    """AWS's count: a product over keys; ``$or`` alternatives add (sum of products)."""
    total = 1
    for key, spec in node.items():
        if _is_or(key, spec):
            total *= sum(_combinations(branch, depth=depth) for branch in spec)
        elif isinstance(spec, dict):
            total *= _combinations(spec, depth=depth + 1)
        else:
            total *= len(spec) * depth
    return total


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    scope: str
    has_attributes: bool


def _attribute_value(kind: str, attribute: Mapping[str, Any]) -> Any:
    raw = attribute.get("StringValue", attribute.get("Value"))
    if kind.endswith(".Array"):
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return []
        return parsed if isinstance(parsed, list) else [parsed]
    if kind.startswith("Number"):
        if _is_number(raw):
            return raw
        try:
            return float(str(raw))
        except ValueError:
            return raw
    return raw


def _match_node(node: dict[str, Any], value: Any, path: str, context: _Context) -> str | None:
    """None when ``value`` satisfies ``node``; otherwise the first reason it does not."""
    if isinstance(value, list):
        # An array in the body matches when one of its elements satisfies the whole node.
        reasons = []
        for item in list(_flatten(value)) or [{}]:
            reason = _match_node(node, item, path, context)
            if reason is None:
                return None
            reasons.append(reason)
        if len(reasons) == 1:
            return reasons[0]
        return f"no element of {path.rstrip('.')} matched (first: {reasons[0]})"
    document = value if isinstance(value, dict) else {}
    for key, spec in node.items():
        if _is_or(key, spec):
            failures = []
            for branch in spec:
                reason = _match_node(branch, document, path, context)
                if reason is None:
                    break
                failures.append(reason)
            else:
                listed = "; ".join(f"({n}) {reason}" for n, reason in enumerate(failures, 1))
                return f"$or: no alternative matched: {listed}"
        elif isinstance(spec, dict):
            reason = _match_node(spec, document.get(key), f"{path}{key}.", context)
            if reason is not None:
                return reason
        else:
            reason = _match_leaf(f"{path}{key}", spec, key in document, document.get(key), context)
            if reason is not None:
                return reason
    return None


def _match_leaf(
    name: str, conditions: list[Any], present: bool, value: Any, context: _Context
) -> str | None:
    scalars = list(_flatten(value)) if isinstance(value, list) else [value]
    for condition in conditions:
        if _condition_holds(condition, present, value, scalars, context):
            return None
    return _explain(name, conditions, present, value, context)


def _condition_holds(
    condition: Any, present: bool, value: Any, scalars: list[Any], context: _Context
) -> bool:
    if not isinstance(condition, dict):
        return present and any(_literal_equal(condition, scalar) for scalar in scalars)
    ((op, arg),) = condition.items()
    if op == "exists":
        has_value = present and any(s is not None and not isinstance(s, dict) for s in scalars)
        return has_value if arg else not has_value and context.has_attributes
    if not present:
        return False
    if op == "anything-but":
        allowed = [_not_excluded(arg, scalar) for scalar in scalars]
        if context.scope == ATTRIBUTES and isinstance(value, list):
            return bool(allowed) and all(allowed)
        return any(allowed)
    return any(_operator_holds(op, arg, scalar) for scalar in scalars)


def _not_excluded(arg: Any, scalar: Any) -> bool:
    if scalar is None or isinstance(scalar, dict):
        return False
    if isinstance(arg, dict):
        return isinstance(scalar, str) and not scalar.startswith(arg["prefix"])
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_literal_equal(item, scalar) for item in excluded)


def _literal_equal(literal: Any, scalar: Any) -> bool:
    if literal is None or isinstance(literal, bool):
        return scalar is literal
    if isinstance(literal, str):
        return isinstance(scalar, str) and scalar == literal
    return _is_number(scalar) and _rounded(scalar) == _rounded(literal)


def _operator_holds(op: str, arg: Any, scalar: Any) -> bool:
    if op == "numeric":
        if not _is_number(scalar):
            return False
        pairs = zip(arg[0::2], arg[1::2], strict=True)
        return all(COMPARISONS[sign](_rounded(scalar), _rounded(bound)) for sign, bound in pairs)
    if not isinstance(scalar, str):
        return False
    if op == "prefix":
        return scalar.startswith(arg)
    if op == "suffix":
        return scalar.endswith(arg)
    if op == "equals-ignore-case":
        return scalar.casefold() == str(arg).casefold()
    try:
        address = ipaddress.ip_address(scalar)
        network = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network


def _explain(name: str, conditions: list[Any], present: bool, value: Any, context: _Context) -> str:
    """Say which key and which condition failed, in words a student can read."""
    if not present:
        if {"exists": False} in conditions and not context.has_attributes:
            return (
                f"{name}: the message has no attributes, and AWS's exists: false "
                "matches only when at least one attribute is present"
            )
        where = (
            "attribute missing" if context.scope == ATTRIBUTES else "missing from the message body"
        )
        return f"{name}: {where}"
    shown = _show(value)
    uses_exists = any(
        isinstance(condition, dict) and "exists" in condition for condition in conditions
    )
    if isinstance(value, list) and not uses_exists:
        only = conditions[0] if len(conditions) == 1 else {}
        if context.scope == ATTRIBUTES and "anything-but" in only:
            # String.Array: one excluded element is enough to reject the message.
            return f"{name}: {shown} has an element excluded by {_describe(only)}"
        listed = " or ".join(_describe(condition) for condition in conditions)
        return f"{name}: no element of {shown} matches {listed}"
    if not any(isinstance(condition, dict) for condition in conditions):
        if len(conditions) == 1:
            return f"{name}: {shown} is not {_show(conditions[0])}"
        return f"{name}: {shown} is not one of {_show(conditions)}"
    if len(conditions) == 1:
        return f"{name}: {shown} {_failure(conditions[0], value)}"
    listed = ", ".join(_describe(condition) for condition in conditions)
    return f"{name}: {shown} matches none of [{listed}]"


def _failure(condition: dict[str, Any], value: Any) -> str:
    ((op, arg),) = condition.items()
    if op == "numeric":
        if not any(_is_number(s) for s in (value if isinstance(value, list) else [value])):
            return f"is not a number, so numeric {_numeric_text(arg)} cannot match"
        return f"is not {_numeric_text(arg)}"
    if op == "anything-but":
        if isinstance(arg, dict):
            return f"starts with the excluded prefix {_show(arg['prefix'])}"
        return f"is excluded by anything-but {_show(arg)}"
    if op == "exists":
        if arg:
            return "is not a non-null leaf value, so exists: true does not match"
        return "is present, but exists: false requires it to be absent"
    phrases = {
        "prefix": f"does not start with {_show(arg)}",
        "suffix": f"does not end with {_show(arg)}",
        "equals-ignore-case": f"does not equal {_show(arg)}, even ignoring case",
        "cidr": f"is not an IP address in {arg}",
    }
    return phrases[op]


def _describe(condition: Any) -> str:
    if not isinstance(condition, dict):
        return _show(condition)
    ((op, arg),) = condition.items()
    if op == "numeric":
        return f"numeric {_numeric_text(arg)}"
    if op == "anything-but" and isinstance(arg, dict):
        return f"anything-but prefix {_show(arg['prefix'])}"
    return f"{op} {arg if op == 'cidr' else _show(arg)}"


def _numeric_text(arg: list[Any]) -> str:
    return " and ".join(
        f"{sign} {_show(bound)}" for sign, bound in zip(arg[0::2], arg[1::2], strict=True)
    )


# --- small helpers ------------------------------------------------------------------------


def _flatten(value: Any) -> Iterator[Any]:
    """The scalars (and objects) of an array, however deeply arrays nest: AWS looks through them."""
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rounded(number: float) -> float:
    """AWS compares numbers to five digits after the decimal point."""
    return round(float(number), 5)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _show(value: Any) -> str:
    """A value as a student reads it: strings quoted, JSON keywords, integral floats as ints."""
    if value is None or isinstance(value, bool):
        return _json_type(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "an object"
    return repr(value)
