"""The small CSV tables people write by hand: declared columns, parsed and checked.

A lab's `sections.csv`, `specimens.csv` and `stacks.csv`, core_crop's `--sections` and a
splice table are each declared once as a `Table` of `Column`s: the column's type (text, a number,
a whole number, a true/false word, one of a few words or a named pattern), whether it may be
left out, and its conditions (> 0, finite, a unique key, ...). `Table.read` then refuses the
first problem with a `ValueError` that names the file, the line and the problem:

    SECTIONS = tables.Table("section", (
        tables.Column("section", key=True),
        tables.Column("px_per_cm", float, checks=(tables.FINITE, tables.POSITIVE)),
        tables.Column("depth_axis", ("x", "y")),
        tables.Column("top_px", int, default=0),
    ))
    for row in SECTIONS.read(path):  # [Row], in file order
        row.key, row["px_per_cm"], row.where  # "A-01", 197.0, "<path>, line 2"

Files are read through `etils.epath`, so a table may live on any filesystem TFDS supports (or be
a plain local path). NumPy-free and TensorFlow-free: the standard library and etils only.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from etils import epath

TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # a column's default: the column and every cell of it must be there


@dataclasses.dataclass(frozen=True)
class Check:
    """A condition on a parsed value; a failing cell reads "need <column> <text>, got <cell>"."""

    text: str
    test: Callable[[Any], bool]


POSITIVE = Check("> 0", lambda value: value > 0)
NON_NEGATIVE = Check(">= 0", lambda value: value >= 0)
FINITE = Check("to be finite", math.isfinite)


@dataclasses.dataclass(frozen=True)
class Pattern:
    """Text that must match `regex` as a whole; `description` says in words what it allows."""

    regex: str
    description: str


@dataclasses.dataclass(frozen=True)
class Column:
    """One declared column.

    Attributes:
        name: the header word.
        kind: `str` (stripped text), `float`, `int`, `bool` (TRUE_WORDS / FALSE_WORDS, any case),
            a tuple of allowed words (any case; the declared spelling is returned) or a `Pattern`.
        default: REQUIRED (the header must have the column and no cell may be empty), or the
            value of an empty cell and of every cell when the header lacks the column.
        key: the row's name: non-empty and unique in the table (at most one key column).
        checks: conditions on a given (non-empty) cell's value, in order.
        missing: the problem an empty required cell reports, formatted with `column`, `noun`
            and `key`; by default "missing <column> for <noun> '<key>'".
    """

    name: str
    kind: Any = str
    default: Any = REQUIRED
    key: bool = False
    checks: tuple[Check, ...] = ()
    missing: str | None = None

    def __post_init__(self):
        if not (self.kind in (str, float, int, bool) or isinstance(self.kind, Pattern)
                or (isinstance(self.kind, tuple) and self.kind)):
            raise TypeError(f"column {self.name!r}: unknown kind {self.kind!r}")
        if self.key and not self.required:
            raise ValueError(f"column {self.name!r}: a key column cannot have a default")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclasses.dataclass(frozen=True)
class Row:
    """One parsed row: `row[column]` is its value; `where` ("<file>, line <n>") starts a message."""

    where: str
    values: Mapping[str, Any]
    key: Any = None

    def __getitem__(self, column: str) -> Any:
        return self.values[column]

    def error(self, problem: str) -> ValueError:
        """A ValueError about this row, for the reader's own checks: `raise row.error("...")`."""
        return ValueError(f"{self.where}: {problem}")


class _Refused(Exception):
    """A cell's problem, before the reader adds where it is."""


@dataclasses.dataclass(frozen=True)
class Table:
    """A CSV table with a header row and one row per `noun`.

    Columns the declaration does not name are ignored (notes, a lab's own bookkeeping).

    Attributes:
        noun: what one row describes ("section", "interval"); used in messages.
        columns: the declared columns.
        exceeds: (a, b) pairs of numeric columns: each row's a must exceed its b.
        allow_empty: a table with a header and no rows is returned as []; otherwise refused.
    """

    noun: str
    columns: tuple[Column, ...]
    exceeds: tuple[tuple[str, str], ...] = ()
    allow_empty: bool = False

    def __post_init__(self):
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names) or sum(c.key for c in self.columns) > 1:
            raise ValueError(f"table of {self.noun}s: columns {names} repeat a name or have two keys")
        unknown = {name for pair in self.exceeds for name in pair} - set(names)
        if unknown:
            raise ValueError(f"table of {self.noun}s: `exceeds` names unknown columns {sorted(unknown)}")

    def read(self, path: epath.PathLike) -> list[Row]:
        """Reads, parses and checks every row of the table at `path`, in file order.

        Blank lines (and rows of empty cells) are skipped; a UTF-8 byte-order mark is allowed.

        Raises:
            ValueError: the file is missing or not UTF-8 text, a required column is missing, a
                row has more cells than the header, a cell is empty, of the wrong type or fails
                a check, a key repeats, a row breaks `exceeds`, or the table has no rows; the
                message names the file and, for a row, its line.
        """
        path = epath.Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: does not exist (a CSV table, one row per {self.noun}: "
                             f"{', '.join(c.name for c in self.columns)})")
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error}); save the table as CSV UTF-8") from None
        # `#` lines before the header (what made the file, e.g. coretf's own provenance line) are
        # blanked, not dropped, so that every message keeps the file's line numbers.
        lines = text.splitlines(keepends=True)
        start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
        reader = csv.reader(io.StringIO("\n" * start + "".join(lines[start:]), newline=""))
        rows: list[Row] = []
        first_line: dict[Any, int] = {}
        try:
            header = next((row for row in reader if row), [])
            header = [name.strip() for name in header]
            self._check_header(path, header)
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                line = reader.line_num
                where = f"{path}, line {line}"
                if any(cell.strip() for cell in cells[len(header):]):  # often an unquoted comma
                    raise ValueError(f"{where}: {len(cells)} cells but the header has {len(header)} "
                                     "columns")
                row = self._parse(dict(zip(header, cells)), where)
                if row.key is not None:
                    if row.key in first_line:
                        raise row.error(f"{self.noun} {row.key!r} listed twice (first on line "
                                        f"{first_line[row.key]})")
                    first_line[row.key] = line
                rows.append(row)
        except csv.Error as error:
            raise ValueError(f"{path}, line {reader.line_num}: not a CSV row ({error})") from None
        if not rows and not self.allow_empty:
            raise ValueError(f"{path}: lists no {self.noun}s")
        return rows

    def _check_header(self, path: epath.Path, header: Sequence[str]) -> None:
        twice = [c.name for c in self.columns if header.count(c.name) > 1]
        if twice:  # which of the two would count?
            raise ValueError(f"{path}: column(s) {twice} appear more than once in the header")
        missing = [c.name for c in self.columns if c.required and c.name not in header]
        if missing:
            required = [repr(c.name) for c in self.columns if c.required]
            optional = [repr(c.name) for c in self.columns if not c.required]
            needs = f"a {required[0]} column" if len(required) == 1 else f"columns {', '.join(required)}"
            may = f"; may have {', '.join(optional)}" if optional else ""
            raise ValueError(f"{path}: missing column(s) {missing}; found {list(header)} "
                             f"(needs {needs}{may})")

    def _parse(self, record: dict[str, str], where: str) -> Row:
        values: dict[str, Any] = {}
        key = None
        # The key first, so that every other message can name the row.
        for column in sorted(self.columns, key=lambda c: not c.key):
            text = (record.get(column.name) or "").strip()
            label = f"{self.noun} name" if column.key and column.name == self.noun else column.name
            of_row = f" for {self.noun} {key!r}" if key is not None else ""
            if not text:
                if not column.required:
                    values[column.name] = column.default
                    continue
                if column.key:
                    raise ValueError(f"{where}: empty {label}")
                problem = (column.missing.format(column=column.name, noun=self.noun, key=key)
                           if column.missing else f"missing {column.name}{of_row}")
                raise ValueError(f"{where}: {problem}")
            try:
                value = _parse_cell(column.kind, text, label)
            except _Refused as refused:
                raise ValueError(f"{where}: {refused}") from None
            except ValueError as error:  # a number or a true/false word that is not one
                reading = f"{self.noun} {key!r}" if key is not None else "the row"
                raise ValueError(f"{where}: could not read {reading}: {label} {text!r} is not "
                                 f"{error}") from None
            for check in column.checks:
                if not check.test(value):
                    raise ValueError(f"{where}: need {column.name} {check.text}{of_row}, got {text}")
            values[column.name] = value
            if column.key:
                key = value
        for high, low in self.exceeds:
            if values[high] is not None and values[low] is not None and not values[high] > values[low]:
                raise ValueError(f"{where}: {high} ({values[high]}) must exceed {low} ({values[low]})")
        return Row(where=where, values=values, key=key)


def _parse_cell(kind: Any, text: str, label: str) -> Any:
    """The value of a non-empty, stripped cell.

    Raises:
        ValueError: with what the text is not ("a number"), for numbers and true/false words.
        _Refused: with the whole problem, for words and patterns.
    """
    if kind is str:
        return text
    if kind is float or kind is int:
        try:
            if "_" in text:  # Python reads "1_000" as 1000; a table means no such thing
                raise ValueError
            return kind(text)
        except ValueError:
            raise ValueError("a number" if kind is float else "a whole number") from None
    if kind is bool:
        word = text.lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(f"true or false ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)})")
    if isinstance(kind, Pattern):
        if not re.fullmatch(kind.regex, text):
            raise _Refused(f"{label} {text!r} must be {kind.description}")
        return text
    for word in kind:
        if text.lower() == word.lower():
            return word
    allowed = [repr(w) for w in kind]
    either = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
    raise _Refused(f"{label} must be {either}, got {text!r}")
