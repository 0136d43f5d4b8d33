"""A campaign's audience: a list of recipient dicts, or a JSON Lines or CSV file read through
Airflow's ObjectStoragePath (a local path, file://, s3://, gs://...).

A file is never held whole in memory: :meth:`Audience.validate` reads it once, checking every
recipient (a bad line fails before anything is sent, naming the file, the line and what is wrong),
and :meth:`Audience.chunks` reads it again a chunk at a time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from airflow_provider_twilio_push.core.request import is_sendable_recipient, validate_recipient
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIX = ".csv"
CSV_COLUMNS = ("token", "provider", "userId", "variables")
#: Lines of a JSON Lines file parsed together.
BATCH_LINES = 1000
#: Bytes of a file read at a time.
BLOCK_BYTES = 1 << 20
EXPECTED = (
    "expected a list of recipient dicts, or the path or URI of a JSON Lines file (.jsonl, .ndjson: "
    "one recipient object a line) or a CSV file (.csv: columns token,provider or userId, and an "
    "optional variables column of JSON)"
)


class Audience:
    """The recipients of a campaign, from ``source`` (see the module's docstring)."""

    def __init__(self, source: object) -> None:
        self.source = source
        self.path: Any = None
        self.csv = False
        if isinstance(source, str):
            lowered = source.lower()
            if not lowered.endswith((*JSON_LINES_SUFFIXES, CSV_SUFFIX)):
                raise TwilioPushInvalidInputError(f"Invalid audience {source!r}: {EXPECTED}.")
            # Imported when a task reads a file, not by every DAG file that imports the operator.
            from airflow.providers.common.compat.sdk import ObjectStoragePath

            self.path = ObjectStoragePath(source)
            self.csv = lowered.endswith(CSV_SUFFIX)
        elif not isinstance(source, Sequence) or isinstance(source, bytes | bytearray):
            raise TwilioPushInvalidInputError(f"Invalid audience: {EXPECTED}, got {type(source).__name__}.")

    def describe(self) -> str:
        return str(self.source) if self.path is not None else "a list"

    def validate(self) -> int:
        """Check every recipient, reading a file once; return how many there are."""
        count = 0
        for position, item in self._items():
            if not is_sendable_recipient(item):
                validate_recipient(item, self._where(position))
            count += 1
        if count == 0:
            raise TwilioPushInvalidInputError(f"Invalid audience {self.describe()}: it holds no recipients.")
        return count

    def chunks(self, size: int) -> Iterator[list[Any]]:
        """The recipients, ``size`` at a time, as they are sent (the send checks them again)."""
        items = (item for _, item in self._items())
        while chunk := list(islice(items, size)):
            yield chunk

    def _where(self, position: int) -> str:
        """A recipient's place, for errors: its index in a list, its line in a file."""
        if self.path is None:
            return f"audience[{position}]"
        return f"audience {self.source}, line {position}"

    def _items(self) -> Iterator[tuple[int, Any]]:
        """``(index or line number, recipient as read)``."""
        if self.path is None:
            assert isinstance(self.source, Sequence)
            yield from enumerate(self.source)
            return
        where = f"audience {self.source}"
        try:
            with self.path.open("rb") as file:
                lines = _text_lines(file, where)
                if self.csv:
                    yield from _csv_rows((line + "\n" for line in lines), where)
                else:
                    yield from _json_lines(lines, where)
        except OSError as exc:
            raise TwilioPushInvalidInputError(f"Invalid {where}: it cannot be read: {exc}") from None


def _text_lines(file: Any, where: str) -> Iterator[str]:
    """The lines of a UTF-8 file (without their newline), read :data:`BLOCK_BYTES` at a time.

    Blocks rather than lines: on Airflow 3.0 an ObjectStoragePath file cannot be iterated, only
    read; and a line that is not UTF-8 is named by its number. A byte-order mark is skipped.
    """
    done = 0
    rest = b""
    while True:
        block = file.read(BLOCK_BYTES)
        data = rest + block if rest else block
        end = data.rfind(b"\n") + 1 if block else len(data)
        if not end:
            if not block:
                return
            rest = data
            continue
        whole, rest = data[:end], data[end:]
        try:
            text = whole.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = done + whole.count(b"\n", 0, exc.start) + 1
            raise TwilioPushInvalidInputError(
                f"Invalid {where}, line {line}: not UTF-8 text ({exc.reason})."
            ) from None
        if done == 0:
            text = text.removeprefix("\ufeff")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        done += len(lines)
        yield from lines
        if not block:
            return


def _json_lines(lines: Iterator[str], where: str) -> Iterator[tuple[int, Any]]:
    """The objects of a JSON Lines file with their line numbers, blank lines skipped.

    Lines are parsed :data:`BATCH_LINES` at a time as one JSON array: a third of the CPU of a
    ``json.loads`` a line (0.5 us a recipient instead of 1.6). The array holds exactly the batch's
    objects only if every line is framed by braces and the array has one item per line, each a
    recipient: a line holding two objects adds an item, so the count can only match if another
    item spans two lines, which (a line starting with "{" after the comma) takes an array inside
    an object, and a recipient has none. Any doubt, and the batch is parsed line by line, which
    names the bad line.
    """
    first = 1
    while batch := list(islice(lines, BATCH_LINES)):
        numbered = []
        framed = True
        for offset, text in enumerate(batch):
            if stripped := text.strip():
                numbered.append((first + offset, stripped))
                framed = framed and stripped[0] == "{" and stripped[-1] == "}"
        first += len(batch)
        try:
            items = json.loads("[" + ",".join(text for _, text in numbered) + "]") if framed else None
        except ValueError:
            items = None
        if (
            isinstance(items, list)
            and len(items) == len(numbered)
            and all(_is_recipient(item) for item in items)
        ):
            yield from zip((line for line, _ in numbered), items, strict=True)
        else:
            for line, text in numbered:
                yield line, _json_line(text, where, line)


def _is_recipient(item: object) -> bool:
    if is_sendable_recipient(item):
        return True
    try:
        validate_recipient(item, "")
    except TwilioPushInvalidInputError:
        return False
    return True


def _json_line(text: str, where: str, line: int) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise TwilioPushInvalidInputError(
            f"Invalid {where}, line {line}: not JSON ({reason}); expected one recipient object a line, "
            'such as {"token": "...", "provider": "FCM"}.'
        ) from None


def _csv_rows(file: Any, where: str) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(file)
    header = next(reader, None)
    if header is None:
        return
    columns = [name.strip() for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown or not ({"token", "provider"} <= set(columns) or "userId" in columns):
        raise TwilioPushInvalidInputError(
            f"Invalid {where}, line 1: the header is {','.join(columns)!r}; expected the columns "
            "token,provider or userId, and optionally variables (a JSON object)."
        )
    for row in reader:
        line = reader.line_num
        if not any(value.strip() for value in row):
            continue
        if len(row) != len(columns):
            raise TwilioPushInvalidInputError(
                f"Invalid {where}, line {line}: {len(row)} values for the {len(columns)} columns "
                f"{','.join(columns)}."
            )
        item: dict[str, Any] = {name: value for name, value in zip(columns, row, strict=True) if value}
        if "variables" in item:
            item["variables"] = _csv_variables(item["variables"], where, line)
        yield line, item


def _csv_variables(text: str, where: str, line: int) -> Any:
    try:
        variables = json.loads(text)
    except ValueError:
        variables = None
    if not isinstance(variables, Mapping):
        raise TwilioPushInvalidInputError(
            f"Invalid {where}, line {line}: variables {text!r} is not a JSON object such as "
            '{"name": "Ada"}.'
        )
    return variables
