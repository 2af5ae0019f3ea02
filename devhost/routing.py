"""Route templates of HTTP-triggered functions, matched like ASP.NET Core does.

The Functions host routes ``/api/{route}`` with ASP.NET Core route templates:
literal segments match case-insensitively, ``{name}`` captures a segment,
``{name:constraint}`` restricts it, ``{name?}`` is optional and ``{*rest}``
captures the remainder of the path. More specific templates win (literal before
constrained parameter before parameter before catch-all).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

__all__ = ["RouteError", "RouteTable", "RouteTemplate"]


class RouteError(ValueError):
    """A route template cannot be parsed; the message names the template part."""


_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_FLOAT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_PATTERNS: dict[str, re.Pattern[str]] = {
    "int": re.compile(r"-?\d+"),
    "long": re.compile(r"-?\d+"),
    "alpha": re.compile(r"[A-Za-z]+"),
    "bool": re.compile(r"(?i:true|false)"),
    "decimal": _NUMBER,
    "double": _FLOAT,
    "float": _FLOAT,
}


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _constraint(text: str) -> Callable[[str], bool]:
    """Compile one ``:constraint`` into a predicate on the decoded value."""
    name, _, argument = text.partition("(")
    name = name.strip().lower()
    argument = argument[:-1] if argument.endswith(")") else argument
    if argument and not text.endswith(")"):
        raise RouteError(f"constraint {text!r} misses its closing parenthesis")

    if name in _PATTERNS and not argument:
        pattern = _PATTERNS[name]
        return lambda value: pattern.fullmatch(value) is not None
    if name == "guid":
        return _is_guid
    if name == "datetime":
        return _is_datetime
    if name == "regex":
        # ASP.NET escapes braces in templates by doubling them and tests the
        # pattern with Regex.IsMatch, i.e. unanchored unless the pattern says so.
        regex = re.compile(argument.replace("{{", "{").replace("}}", "}"))
        return lambda value: regex.search(value) is not None
    try:
        numbers = [int(part) for part in argument.split(",")] if argument else []
    except ValueError as exc:
        raise RouteError(f"constraint {text!r} needs integer arguments") from exc
    if name == "minlength" and len(numbers) == 1:
        return lambda value: len(value) >= numbers[0]
    if name == "maxlength" and len(numbers) == 1:
        return lambda value: len(value) <= numbers[0]
    if name == "length" and len(numbers) in (1, 2):
        shortest, longest = numbers[0], numbers[-1]
        return lambda value: shortest <= len(value) <= longest
    if name in ("min", "max", "range") and len(numbers) == (
        2 if name == "range" else 1
    ):
        return _in_range(
            numbers[0] if name != "max" else None,
            numbers[-1] if name != "min" else None,
        )
    raise RouteError(f"route constraint {text!r} is not supported by the dev host")


def _in_range(low: int | None, high: int | None) -> Callable[[str], bool]:
    is_integer = _PATTERNS["long"]

    def check(value: str) -> bool:
        if not is_integer.fullmatch(value):
            return False
        number = int(value)
        return (low is None or number >= low) and (high is None or number <= high)

    return check


@dataclass(frozen=True)
class _Parameter:
    name: str
    constraints: tuple[Callable[[str], bool], ...]
    optional: bool
    catch_all: bool


def _split_segment(segment: str) -> list[str | _Parameter]:
    """Split one path segment into literal text and parameters."""
    parts: list[str | _Parameter] = []
    literal = ""
    index = 0
    while index < len(segment):
        char = segment[index]
        if char != "{":
            literal += char
            index += 1
            continue
        # Find the closing brace; braces inside a constraint's parentheses (a
        # regex quantifier such as {3}) do not end the parameter.
        depth, end = 0, index + 1
        while end < len(segment) and not (segment[end] == "}" and depth == 0):
            depth += {"(": 1, ")": -1}.get(segment[end], 0)
            end += 1
        if end >= len(segment):
            raise RouteError(f"route segment {segment!r} has an unclosed '{{'")
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(_parse_parameter(segment[index + 1 : end]))
        index = end + 1
    if literal:
        parts.append(literal)
    return parts


def _parse_parameter(body: str) -> _Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    name, _, rest = body.partition(":")
    optional = name.endswith("?") or rest.endswith("?")
    name = name.rstrip("?")
    rest = rest[:-1] if rest.endswith("?") else rest
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteError(f"route parameter {{{body}}} has an invalid name")

    constraints: list[Callable[[str], bool]] = []
    while rest:
        # Split on ':' outside parentheses: regex(a:b) is one constraint.
        depth, cut = 0, len(rest)
        for position, char in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == ":" and depth == 0:
                cut = position
                break
        constraints.append(_constraint(rest[:cut]))
        rest = rest[cut + 1 :]
    return _Parameter(name, tuple(constraints), optional, catch_all)


def _rank(parameter: _Parameter) -> int:
    # Lower is more specific; a literal segment ranks 0 and a catch-all 4.
    if parameter.catch_all:
        return 4
    if parameter.optional:
        return 3
    return 1 if parameter.constraints else 2


@dataclass(frozen=True)
class RouteTemplate:
    """A compiled route template.

    Parameters
    ----------
    template : str
        The template as registered, without the ``api/`` prefix.
    """

    template: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _parameters: dict[str, _Parameter] = field(init=False, repr=False, compare=False)
    precedence: tuple[int, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        pattern = ""
        parameters: dict[str, _Parameter] = {}
        precedence: list[int] = []
        segments = [s for s in self.template.strip("/").split("/")]
        for position, segment in enumerate(segments):
            parts = _split_segment(segment) if segment else []
            last = position == len(segments) - 1
            piece = ""
            rank = 0
            for part in parts:
                if isinstance(part, str):
                    piece += re.escape(part)
                    continue
                if part.name in parameters:
                    raise RouteError(f"route parameter {part.name} appears twice")
                if (part.catch_all or part.optional) and not last:
                    raise RouteError(
                        f"{{{part.name}}}: optional and catch-all parameters must "
                        "be in the last segment"
                    )
                parameters[part.name] = part
                capture = ".*" if part.catch_all else "[^/]+"
                piece += f"(?P<{part.name}>{capture})"
                rank = max(rank, _rank(part))
            precedence.append(rank)
            optional_tail = (
                any(
                    isinstance(p, _Parameter) and (p.optional or p.catch_all)
                    for p in parts
                )
                and len(parts) == 1
            )
            if optional_tail:
                # "items/{id?}" matches "items" as well as "items/5".
                pattern += f"(?:/{piece})?" if pattern else f"(?:{piece})?"
            else:
                pattern += f"/{piece}" if pattern else piece
        object.__setattr__(self, "_regex", re.compile(pattern, re.IGNORECASE))
        object.__setattr__(self, "_parameters", parameters)
        object.__setattr__(self, "precedence", tuple(precedence))

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Match a percent-encoded path below ``/api/``.

        Returns
        -------
        dict[str, str] | None
            Decoded route parameters (only those present), or ``None``.
        """
        found = self._regex.fullmatch(raw_path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for name, parameter in self._parameters.items():
            raw = found.group(name)
            if raw is None or (raw == "" and parameter.catch_all):
                continue
            value = unquote(raw)
            if not all(check(value) for check in parameter.constraints):
                return None
            values[name] = value
        return values


@dataclass
class RouteTable:
    """Templates in precedence order, each with the value it routes to."""

    _entries: list[tuple[RouteTemplate, object]] = field(default_factory=list)

    @classmethod
    def build(cls, entries: Iterable[tuple[str, object]]) -> RouteTable:
        """Compile ``(template, target)`` pairs; the most specific is tried first."""
        compiled = [(RouteTemplate(template), target) for template, target in entries]
        compiled.sort(key=lambda entry: entry[0].precedence)
        return cls(compiled)

    def match(self, raw_path: str) -> list[tuple[object, Mapping[str, str]]]:
        """Every target whose template matches, most specific first."""
        matches: list[tuple[object, Mapping[str, str]]] = []
        for template, target in self._entries:
            values = template.match(raw_path)
            if values is not None:
                matches.append((target, values))
        return matches
