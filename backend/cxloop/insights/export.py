"""CSV and Parquet answers for every insights route: the same rows the JSON answer has.

A route offers ``format: FormatQuery = "json"`` (a query parameter), passes
``operation_class=ExportOperation`` to its decorator so OpenAPI lists the CSV and Parquet
answers next to the JSON one, and, for ``csv``/``parquet``, returns
``export_response(rows, RowStruct, format, "cxloop-<name>")``::

    @get("/ratings", operation_class=ExportOperation)
    async def ratings(self, ..., format: FormatQuery = "json") -> Ratings | Response[bytes]:
        answer = ...
        if format != "json":
            return export_response(answer.rows, RatingRow, format, "cxloop-ratings")
        return answer

CSV is UTF-8 with a byte-order mark (Excel then reads Chinese correctly), a header of the
field names, empty cells for nulls, lists and objects as JSON text. Parquet keeps the types
(lists of strings stay lists; objects become JSON text), zstd-compressed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from litestar import Response
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import QueryParameter

__all__ = [
    "CSV_MEDIA_TYPE",
    "EXPORT_FORMATS",
    "PARQUET_MEDIA_TYPE",
    "ExportFormat",
    "ExportOperation",
    "FormatQuery",
    "export_bytes",
    "export_response",
]

ExportFormat: TypeAlias = Literal["json", "csv", "parquet"]
FormatQuery: TypeAlias = Annotated[
    ExportFormat,
    QueryParameter(
        name="format",
        description="json (default); csv or parquet: the same rows as a file to download.",
    ),
]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("json", "csv", "parquet")
CSV_MEDIA_TYPE = "text/csv"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"

_BOM = "\ufeff"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ExportOperation(Operation):
    """An operation whose success is also offered as CSV and Parquet (``format=``)."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        for status, response in (self.responses or {}).items():
            if not status.startswith("2") or not isinstance(response, OpenAPIResponse):
                continue
            _drop_file_from_json(response)
            response.content = {
                **(response.content or {}),
                CSV_MEDIA_TYPE: OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.STRING,
                        description="format=csv: the rows as UTF-8 CSV with a byte-order mark, "
                        "a header of field names.",
                    )
                ),
                PARQUET_MEDIA_TYPE: OpenAPIMediaType(schema=binary),
            }
            response.description = (
                f"{response.description or 'The answer'}; format=csv or format=parquet "
                "gives its rows as a file."
            )


def _drop_file_from_json(response: OpenAPIResponse) -> None:
    # ``Answer | Response[bytes]`` is documented as oneOf [Answer, {}]: the file is not JSON.
    media = (response.content or {}).get("application/json")
    schema = media.schema if media is not None else None
    if isinstance(schema, Schema) and schema.one_of:
        kept = [s for s in schema.one_of if not (isinstance(s, Schema) and not s.to_schema())]
        if len(kept) == 1:
            assert media is not None
            media.schema = kept[0]


def _arrow_type(info: msgspec.inspect.Type) -> pa.DataType:
    if isinstance(info, msgspec.inspect.UnionType):
        others = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return _arrow_type(others[0]) if len(others) == 1 else pa.string()
    if isinstance(info, msgspec.inspect.BoolType):
        return pa.bool_()
    if isinstance(info, msgspec.inspect.IntType):
        return pa.int64()
    if isinstance(info, msgspec.inspect.FloatType):
        return pa.float64()
    if isinstance(info, msgspec.inspect.DateType):
        return pa.date32()
    if isinstance(info, msgspec.inspect.DateTimeType):
        return pa.timestamp("us", tz="UTC")
    if isinstance(info, msgspec.inspect.ListType | msgspec.inspect.TupleType):
        item = info.item_type if isinstance(info, msgspec.inspect.ListType) else None
        if item is not None and not isinstance(
            item, msgspec.inspect.ListType | msgspec.inspect.DictType | msgspec.inspect.StructType
        ):
            return pa.list_(_arrow_type(item))
    return pa.string()  # str, Literal, enums, and objects (as JSON text)


def _fields(row_type: type[msgspec.Struct]) -> list[tuple[str, msgspec.inspect.Type]]:
    info = msgspec.inspect.type_info(row_type)
    assert isinstance(info, msgspec.inspect.StructType)
    return [(f.encode_name, f.type) for f in info.fields]


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return _json_text(value)
    return str(value)


def _records(rows: Sequence[msgspec.Struct]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = msgspec.to_builtins(
        list(rows), builtin_types=(dt.date, dt.datetime)
    )
    return records


def _csv(rows: Sequence[msgspec.Struct], row_type: type[msgspec.Struct]) -> bytes:
    names = [name for name, _ in _fields(row_type)]
    text = io.StringIO()
    text.write(_BOM)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(names)
    for record in _records(rows):
        writer.writerow([_cell(record.get(name)) for name in names])
    return text.getvalue().encode()


def _parquet(rows: Sequence[msgspec.Struct], row_type: type[msgspec.Struct]) -> bytes:
    fields = _fields(row_type)
    records = _records(rows)
    arrays: dict[str, pa.Array] = {}
    for name, info in fields:
        kind = _arrow_type(info)
        values = [record.get(name) for record in records]
        if pa.types.is_string(kind):
            values = [v if v is None or isinstance(v, str) else _json_text(v) for v in values]
        arrays[name] = pa.array(values, type=kind)
    table = pa.table(arrays) if arrays else pa.table({})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data: bytes = sink.getvalue().to_pybytes()
    return data


def export_bytes(
    rows: Sequence[msgspec.Struct],
    row_type: type[msgspec.Struct],
    format: Literal["csv", "parquet"],
) -> bytes:
    """``rows`` (all of type ``row_type``) as a CSV or Parquet file's bytes."""
    return _csv(rows, row_type) if format == "csv" else _parquet(rows, row_type)


def export_response(
    rows: Sequence[msgspec.Struct],
    row_type: type[msgspec.Struct],
    format: Literal["csv", "parquet"],
    filename: str,
) -> Response[bytes]:
    """A download of ``rows``: ``<filename>.csv`` or ``<filename>.parquet``."""
    media = CSV_MEDIA_TYPE if format == "csv" else PARQUET_MEDIA_TYPE
    name = _SAFE_NAME.sub("-", filename).strip("-") or "cxloop-export"
    return Response(
        export_bytes(rows, row_type, format),
        media_type=media,  # Litestar adds "; charset=utf-8" to text/* itself
        headers={"content-disposition": f'attachment; filename="{name}.{format}"'},
    )
