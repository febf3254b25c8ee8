"""insights.export: the CSV and Parquet files carry exactly the JSON rows."""

from __future__ import annotations

import csv
import io

import msgspec
import pyarrow.parquet as pq
from litestar import Litestar, Response, get
from litestar.testing import TestClient

from cxloop.insights.export import ExportOperation, FormatQuery, export_bytes, export_response


class Row(msgspec.Struct):
    name: str
    n: int
    metric: float | None
    tags: list[str]
    extra: dict[str, str] | None = None
    flag: bool = False


ROWS = [
    Row("中文 評論", 3, 1.5, ["a", "b"], {"k": "v"}, True),
    Row('comma, "quote"\nnewline', 0, None, []),
]


def test_csv_has_a_bom_a_header_and_the_rows() -> None:
    data = export_bytes(ROWS, Row, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert read[0] == ["name", "n", "metric", "tags", "extra", "flag"]
    assert read[1] == ["中文 評論", "3", "1.5", '["a","b"]', '{"k":"v"}', "true"]
    assert read[2] == ['comma, "quote"\nnewline', "0", "", "[]", "", "false"]
    assert len(read) == 3


def test_parquet_keeps_types() -> None:
    table = pq.read_table(io.BytesIO(export_bytes(ROWS, Row, "parquet")))
    assert table.column_names == ["name", "n", "metric", "tags", "extra", "flag"]
    assert str(table.schema.field("n").type) == "int64"
    assert str(table.schema.field("tags").type) == "list<element: string>"
    assert table.to_pylist() == [
        {"name": "中文 評論", "n": 3, "metric": 1.5, "tags": ["a", "b"], "extra": '{"k":"v"}',
         "flag": True},
        {"name": 'comma, "quote"\nnewline', "n": 0, "metric": None, "tags": [], "extra": None,
         "flag": False},
    ]  # fmt: skip


def test_no_rows_still_gives_the_header_and_schema() -> None:
    assert export_bytes([], Row, "csv").decode("utf-8-sig") == "name,n,metric,tags,extra,flag\r\n"
    table = pq.read_table(io.BytesIO(export_bytes([], Row, "parquet")))
    assert (table.num_rows, table.column_names[:2]) == (0, ["name", "n"])


class Answer(msgspec.Struct):
    rows: list[Row]


@get("/x", operation_class=ExportOperation, sync_to_thread=False)
def handler(format: FormatQuery = "json") -> Answer | Response[bytes]:
    if format != "json":
        return export_response(ROWS, Row, format, "cxloop x/../y")
    return Answer(ROWS)


def test_route_answers_each_format_and_documents_them() -> None:
    with TestClient(Litestar([handler])) as client:
        assert client.get("/x").json()["rows"][0]["name"] == "中文 評論"
        answer = client.get("/x", params={"format": "csv"})
        assert answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["content-disposition"] == 'attachment; filename="cxloop-x-..-y.csv"'
        answer = client.get("/x", params={"format": "parquet"})
        assert answer.headers["content-type"] == "application/vnd.apache.parquet"
        assert pq.read_table(io.BytesIO(answer.content)).num_rows == 2
        schema = client.get("/schema/openapi.json").json()
    content = schema["paths"]["/x"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv", "application/vnd.apache.parquet"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Answer"}
