"""Read an exchange configuration file into plain data that knows its positions.

YAML is read as YAML 1.2 (JSON by a `.json` suffix). YAML goes through
libyaml's parser (PyYAML's C binding, twenty times faster than a pure Python
one) with YAML 1.2's core-schema resolution of plain values, so that `no`
stays text and `0777` is not octal; JSON, rare and small, goes through
ruamel.yaml, whose YAML 1.2 parser accepts all of JSON. The result holds only
dicts, lists, str, int, float, bool and None, plus the line and column of
every value and every mapping key, so that later layers can point at the
exact place of a problem. Constructs that hide what a value really is
(aliases, custom tags, duplicate keys, tabs in indentation) are refused;
scalars that YAML 1.1 tools would read differently are reported as warnings.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from exchange.config.model import DocPath
from exchange.config.problems import YAML as YAML_RULE
from exchange.config.problems import YAML_1_1, Problem, hides_secret, secret_key_in

MAX_FILE_BYTES = 1024 * 1024
# An exchange configuration is about five levels deep; far deeper is a
# mistake, or an attempt to exhaust the parser.
MAX_DEPTH = 32

# (line, column), both 1-based.
Position = tuple[int, int]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (
    _TAG + name for name in ("str", "int", "float", "bool", "null")
)
_TIMESTAMP = _TAG + "timestamp"
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"

# What YAML counts as a line break (libyaml also takes NEL and the Unicode
# line and paragraph separators).
_LINE_BREAK = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")

# Node kinds, as both parsers name them.
_MAPPING, _SEQUENCE, _SCALAR = "mapping", "sequence", "scalar"


class _Yaml12Resolver(yaml.resolver.BaseResolver):
    """Tags for plain scalars as YAML 1.2's core schema gives them."""


for _tag, _pattern, _first in (
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    # The core schema's own patterns, as yaml-language-server applies them:
    # no underscores, no 0b, and no sign before 0o or 0x.
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    (_MERGE, r"^(?:<<)$", "<"),
):
    _Yaml12Resolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))

try:
    from yaml.cyaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml
    _Parser = None
if _Parser is not None:

    class _Yaml12Loader(_Parser, yaml.constructor.BaseConstructor, _Yaml12Resolver):
        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            yaml.constructor.BaseConstructor.__init__(self)
            _Yaml12Resolver.__init__(self)

else:  # PyYAML built without libyaml: the same, in pure Python.

    class _Yaml12Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        yaml.constructor.BaseConstructor,
        _Yaml12Resolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.BaseConstructor.__init__(self)
            _Yaml12Resolver.__init__(self)


_YAML11_BOOL = re.compile(r"^(y|yes|on|n|no|off)$", re.IGNORECASE)
_YAML11_TRUE = {"y", "yes", "on"}
_LEADING_ZERO_INT = re.compile(r"^[-+]?0[0-9]+$")
# Numbers only YAML 1.1 has: with underscores (1_000), or binary (0b101).
_YAML11_ONLY_NUMBER = re.compile(
    r"^[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)$"
)
_SEXAGESIMAL = re.compile(
    r"^[-+]?([1-9][0-9_]*(:[0-5]?[0-9])+|[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*)$"
)


class UnreadableFile(Exception):
    """The configuration file is missing or cannot be read at all."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path
        self.reason = reason


class LoadError(Exception):
    """The file is readable but is not a configuration document we accept."""

    def __init__(
        self,
        file: Path,
        line: int,
        col: int,
        message: str,
        hint: str,
        path: DocPath = (),
    ) -> None:
        self.file = file
        self.line = line
        self.col = col
        self.message = message
        self.hint = hint
        self.path = path
        super().__init__(self.problem().format(file))

    def problem(self) -> Problem:
        return Problem(
            path=self.path,
            message=self.message,
            hint=self.hint,
            rule=YAML_RULE,
            line=self.line,
            col=self.col,
        )


@dataclass
class Document:
    """A loaded configuration: its plain data and where each part is written."""

    path: Path
    data: dict[str, Any]
    value_positions: dict[DocPath, Position] = field(default_factory=dict)
    key_positions: dict[DocPath, Position] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def value(self, path: DocPath, default: Any = None) -> Any:
        """The value at `path`, or `default` when the path does not exist."""
        current: Any = self.data
        for part in path:
            try:
                current = current[part]
            except (KeyError, IndexError, TypeError):
                return default
        return current

    def position(self, path: DocPath, key: bool = False) -> Position:
        """Where `path` is written.

        With `key=True`, the mapping key that names the value. A list or
        mapping value is located at its key as well, since its own position
        is that of its first entry. A path that does not exist (a missing
        key) falls back to its nearest existing ancestor.
        """
        path = tuple(path)
        if path in self.value_positions:
            value = self.value(path)
            wants_key = key or isinstance(value, (dict, list))
            if wants_key and path in self.key_positions:
                return self.key_positions[path]
            return self.value_positions[path]
        while path:
            path = path[:-1]
            if path in self.key_positions:
                return self.key_positions[path]
            if path in self.value_positions:
                return self.value_positions[path]
        return (1, 1)


def load_document(path: str | Path) -> Document:
    """Read and parse a configuration file (YAML, or JSON by its suffix).

    Raises `UnreadableFile` when the file cannot be read and `LoadError` when
    it is not a document we accept.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(
            path,
            1,
            1,
            f"the file is larger than {MAX_FILE_BYTES // 1024} KiB",
            "a configuration describes one customer and stays far below that; "
            "check that this is the right file",
        )
    text = _decode(path, raw)
    return parse_text(text, path, is_json=path.suffix.lower() == ".json")


def parse_text(text: str, path: Path, is_json: bool = False) -> Document:
    """Parse configuration text that claims to come from `path`."""
    if not text.strip() or (not is_json and _only_comments(text)):
        raise LoadError(
            path,
            1,
            1,
            "the file is empty",
            "start from examples/app-database.yaml",
        )
    try:
        if is_json:
            # Inside the try: json's decoder recurses once per bracket.
            _check_json_syntax(path, text)
        else:
            _check_indentation(path, text)
            _check_events(path, text)
        root = _compose(path, text, is_json)
    except RecursionError:
        raise LoadError(
            path,
            1,
            1,
            "the file is nested too deeply to be an exchange configuration",
            "an exchange configuration is a few levels deep; look for unclosed "
            "brackets",
        ) from None
    if root is None or (root.id == _SCALAR and root.tag == _NULL and not root.value):
        raise LoadError(
            path,
            1,
            1,
            "the file holds no document",
            "start from examples/app-database.yaml",
        )
    if root.id != _MAPPING:
        line, col = _mark(root)
        raise LoadError(
            path,
            line,
            col,
            f"the top level is {_node_kind(root)}, not a mapping of keys",
            "start the file with `version: 1` followed by the other top-level "
            "keys (customer, region, vpc, onPremises, vpn, exchanges)",
        )
    builder = _DocumentBuilder(path, warn_yaml11=not is_json)
    data = builder.build(root, ())
    return Document(
        path=path,
        data=data,
        value_positions=builder.value_positions,
        key_positions=builder.key_positions,
        warnings=builder.warnings,
    )


def _read_bytes(path: Path) -> bytes:
    try:
        # Without O_NONBLOCK, opening a named pipe waits for a writer, for
        # ever; with it, the open returns and fstat tells what was opened.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as stream:
            mode = os.fstat(stream.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if not stat.S_ISREG(mode):
                raise UnreadableFile(path, "not a regular file")
            # One byte more than allowed tells "too large" without reading
            # an arbitrarily large file.
            return stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UnreadableFile(path, "no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(path, "it is a directory") from None
    except PermissionError:
        raise UnreadableFile(path, "permission denied") from None
    except OSError as error:
        raise UnreadableFile(path, error.strerror or str(error)) from None


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        col = error.start - (before.rfind(b"\n") + 1) + 1
        raise LoadError(
            path,
            line,
            col,
            "the file is not valid UTF-8",
            "save it as UTF-8 text",
        ) from None


def _only_comments(text: str) -> bool:
    return all(
        not line.strip() or line.lstrip().startswith("#")
        for line in _LINE_BREAK.split(text)
    )


def _check_json_syntax(path: Path, text: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise LoadError(
            path,
            error.lineno,
            error.colno,
            f"invalid JSON: {error.msg}",
            "check for a missing comma, quote or bracket, or a trailing comma, "
            "just before this point",
        ) from None


def _check_indentation(path: Path, text: str) -> None:
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        content = line.lstrip(" \t")
        indent = line[: len(line) - len(content)]
        if "\t" in indent and content and not content.startswith("#"):
            raise LoadError(
                path,
                number,
                indent.index("\t") + 1,
                "a tab is used for indentation",
                "indent with spaces only; YAML does not allow tabs there",
            )


def _check_events(path: Path, text: str) -> None:
    # Only aliases (`*name`) and a %YAML directive are looked for here, so a
    # file that contains neither character skips this second parse.
    if "*" not in text and "%" not in text:
        return
    try:
        for event in yaml.parse(text, Loader=_Yaml12Loader):
            if isinstance(event, yaml.AliasEvent):
                line, col = _mark(event)
                raise LoadError(
                    path,
                    line,
                    col,
                    f"the alias *{event.anchor} repeats a value from elsewhere",
                    "write the value out in full; aliases are refused so that "
                    "every value can be read where it is used",
                )
            version = getattr(event, "version", None)
            if isinstance(event, yaml.DocumentStartEvent) and version not in (
                None,
                (1, 2),
            ):
                line, col = _mark(event)
                raise LoadError(
                    path,
                    line,
                    col,
                    "the file declares YAML {}.{}".format(*version),
                    "remove the %YAML line; configurations are read as YAML 1.2",
                )
    except yaml.YAMLError as error:
        raise _syntax_error(path, text, error) from None


def _compose(path: Path, text: str, is_json: bool) -> Any:
    try:
        if is_json:
            return YAML(typ="safe", pure=True).compose(text)
        return yaml.compose(text, Loader=_Yaml12Loader)
    except (YAMLError, yaml.YAMLError) as error:
        raise _syntax_error(path, text, error) from None


def _syntax_error(path: Path, text: str, error: Exception) -> LoadError:
    line, col = 1, 1
    message = str(error).splitlines()[0] if str(error) else "the YAML is broken"
    if isinstance(error, MarkedYAMLError | yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
        message = error.problem or error.context or message
    elif isinstance(getattr(error, "position", None), int):
        # A ReaderError (a control character) knows only its offset.
        before = text[: error.position]
        line = before.count("\n") + 1
        col = error.position - (before.rfind("\n") + 1) + 1
    # An error at the end of the file (an unclosed bracket) is marked past
    # the last character, on a line that the file does not have.
    lines = _LINE_BREAK.split(text)
    if text.endswith(("\n", "\r")):
        lines.pop()
    if line > len(lines):
        line, col = len(lines), len(lines[-1]) + 1
    return LoadError(path, line, col, f"broken YAML: {message}", _syntax_hint(message))


def _syntax_hint(message: str) -> str:
    if "expected a single document" in message or "another document" in message:
        return "keep one document per file: remove the second `---`"
    if "mapping values are not allowed" in message:
        return (
            "a value that contains ': ' must be quoted, or the indentation of "
            "this line is off"
        )
    if "unacceptable character" in message:
        return "remove the control character; save the file as plain UTF-8 text"
    if "'\\t'" in message:
        return "indent with spaces only"
    return (
        "check the indentation and quoting at this point (values starting with "
        "'{', '[', '*', '&', '!', '%' or '@' need quotes)"
    )


def _mark(item: Any) -> Position:
    mark = item.start_mark
    return mark.line + 1, mark.column + 1


def _node_kind(node: Any) -> str:
    if node.id == _SEQUENCE:
        return "a list"
    if node.id == _SCALAR:
        return "a single value"
    return "nothing"


class _DocumentBuilder:
    """Turns composed YAML nodes into plain data, recording every position.

    Nodes come from either parser; both name their kind in `node.id`.
    """

    def __init__(self, file: Path, warn_yaml11: bool) -> None:
        self.file = file
        self.warn_yaml11 = warn_yaml11
        self.value_positions: dict[DocPath, Position] = {}
        self.key_positions: dict[DocPath, Position] = {}
        self.warnings: list[Problem] = []

    def build(self, node: Any, path: DocPath) -> Any:
        if len(path) > MAX_DEPTH:
            line, col = _mark(node)
            raise LoadError(
                self.file,
                line,
                col,
                f"the file nests deeper than {MAX_DEPTH} levels",
                "an exchange configuration is a few levels deep; look for a "
                "misplaced indentation or unclosed brackets",
            )
        self.value_positions[path] = _mark(node)
        if node.id == _MAPPING:
            return self._mapping(node, path)
        if node.id == _SEQUENCE:
            self._check_tag(node, _SEQ, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: Any, path: DocPath) -> dict[str, Any]:
        self._check_tag(node, _MAP, path)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            key_path = (*path, key)
            if key in result:
                first_line = self.key_positions[key_path][0]
                line, col = _mark(key_node)
                # Below a secret's key, a key may be the secret itself.
                named = (
                    f"a key under {secret_key_in(path)}"
                    if hides_secret(path)
                    else f'the key "{key}"'
                )
                raise LoadError(
                    self.file,
                    line,
                    col,
                    f"{named} appears twice (first on line {first_line})",
                    "keep one of them; a key may appear only once in a mapping",
                    key_path,
                )
            self.key_positions[key_path] = _mark(key_node)
            result[key] = self.build(value_node, key_path)
            if value_node.id == _SCALAR and value_node.value == "":
                # An empty value "starts" at the next token, often on a later
                # line; its key is where the user looks for it.
                self.value_positions[key_path] = self.key_positions[key_path]
        return result

    def _key(self, node: Any, parent: DocPath) -> str:
        line, col = _mark(node)
        if node.id == _SCALAR and node.tag == _MERGE:
            raise LoadError(
                self.file,
                line,
                col,
                "merge keys (<<) are not supported",
                "write the merged keys out in full",
                parent,
            )
        if node.id != _SCALAR or node.tag != _STR:
            shown = node.value if node.id == _SCALAR else "a collection"
            if hides_secret(parent):
                shown = f"under {secret_key_in(parent)}"
            raise LoadError(
                self.file,
                line,
                col,
                f"the key {shown} is not text",
                "keys must be names; if this really is a key, put it in quotes",
                parent,
            )
        return node.value

    def _check_tag(self, node: Any, expected: str, path: DocPath) -> None:
        if node.tag != expected:
            line, col = _mark(node)
            raise LoadError(
                self.file,
                line,
                col,
                f"the tag {node.tag} is not supported",
                "remove the tag; plain YAML values are all that is needed",
                path,
            )

    def _scalar(self, node: Any, path: DocPath) -> Any:
        tag, text = node.tag, node.value
        # A plain scalar: libyaml says '' and ruamel None.
        if not node.style and self.warn_yaml11:
            self._warn_yaml11(node, path)
        if tag in (_STR, _TIMESTAMP):
            # A date stays the text it was written as; no field takes dates.
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        if tag == _INT:
            return self._int(node, path)
        if tag == _FLOAT:
            return self._float(node, path)
        self._check_tag(node, _STR, path)
        return text

    def _int(self, node: Any, path: DocPath) -> int:
        try:
            return _int(node.value)
        except ValueError:
            # Python refuses to convert more than 4300 digits (a guard
            # against quadratic time); no field takes such a number.
            raise self._number_error(node, path, "has too many digits") from None

    def _float(self, node: Any, path: DocPath) -> float:
        number = _float(node.value)
        if not math.isfinite(number):
            # .nan passes every bound of the schema and breaks arithmetic
            # later; .inf and 1e999 are no value any field takes either.
            raise self._number_error(node, path, "is not a finite number")
        return number

    def _number_error(self, node: Any, path: DocPath, what: str) -> LoadError:
        line, col = _mark(node)
        shown = "the value" if hides_secret(path) else node.value
        return LoadError(
            self.file,
            line,
            col,
            f"{shown} {what}",
            "write a number (.nan and .inf are not accepted, and numbers beyond "
            "about 1.8e308 count as .inf)",
            path,
        )

    def _warn_yaml11(self, node: Any, path: DocPath) -> None:
        text = node.value
        # A near miss such as `passwd:` holds the secret just as well.
        secret = hides_secret(path)
        shown = "the value" if secret else text
        quoted = "quote it" if secret else f'quote it ("{text}")'
        if _YAML11_BOOL.match(text):
            meaning = "true" if text.lower() in _YAML11_TRUE else "false"
            message = (
                f"{shown} is text in YAML 1.2 but the boolean {meaning} "
                "in YAML 1.1, which many tools still read"
            )
            hint = f"{quoted} so that every tool reads the same text"
        elif _LEADING_ZERO_INT.match(text) and text.strip("+-0_"):
            digits = text.replace("_", "").lstrip("+-")
            if secret:
                new, old = "a number", "another number or text"
            else:
                new = f"the number {int(digits, 10)}"
                old = "text"
                if set(digits) <= set("01234567"):
                    old = f"the octal number {int(digits, 8)}"
            message = f"{shown} is {new} in YAML 1.2 but {old} in YAML 1.1"
            hint = f"{quoted} if it is text, or drop the leading zero"
        elif _SEXAGESIMAL.match(text):
            message = f"{shown} is text in YAML 1.2 but a base-60 number in YAML 1.1"
            hint = f"{quoted} so that every tool reads the same text"
        elif _YAML11_ONLY_NUMBER.match(text) and node.tag == _STR:
            message = f"{shown} is text in YAML 1.2 but a number in YAML 1.1"
            hint = f"{quoted} if it is text; a number takes no underscores and no 0b"
        else:
            return
        line, col = _mark(node)
        self.warnings.append(
            Problem(
                path=path,
                message=message,
                hint=hint,
                rule=YAML_1_1,
                severity="warning",
                line=line,
                col=col,
            )
        )


def _int(text: str) -> int:
    # The resolver allows a sign only before decimal digits.
    for prefix, base in (("0o", 8), ("0x", 16)):
        if text.startswith(prefix):
            return int(text[2:], base)
    return int(text, 10)


def _float(text: str) -> float:
    lowered = text.lower()
    if lowered.lstrip("+-") == ".inf":
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)
