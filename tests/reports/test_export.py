"""Exports to CSV, Parquet and Excel: every file is read back and compared value by value."""

from __future__ import annotations

import io
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csmetrics.errors import UserInputError
from csmetrics.reports.export import FORMATS, download_name, export_frame, frame_bytes


def rows() -> pd.DataFrame:
    """Four customers with every kind of value an export meets: text, dates, money, missing."""
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4"],
        "name": ["Acme", "=HYPERLINK(\"x\")", None, "Zoë, \"the\" café"],
        "started_at": [date(2024, 1, 31), date(2023, 12, 1), None, date(2024, 2, 29)],
        "mrr": [120.5, np.nan, 0.0, 99.99],
        "seats": pd.array([3, None, 1, 12], dtype="Int64"),
        "renewed_at": pd.to_datetime(
            ["2024-03-31 23:30:00", "2024-07-01 08:15:00", None, "2024-01-01 00:00:00"]
        ).tz_localize("UTC"),
        "active": [True, False, True, True],
    })


def test_formats_name_media_types_and_extensions() -> None:
    assert set(FORMATS) == {"csv", "parquet", "xlsx"}
    for name, spec in FORMATS.items():
        assert spec.extension == "." + name
    assert FORMATS["xlsx"].media_type.startswith("application/vnd.openxmlformats")
    assert FORMATS["csv"].media_type.startswith("text/csv")


def test_csv_round_trip_keeps_order_and_leaves_missing_empty(tmp_path: Path) -> None:
    path = export_frame(rows(), tmp_path / "customers.csv")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines() == [
        "customer_id,name,started_at,mrr,seats,renewed_at,active",
        "C1,Acme,2024-01-31,120.5,3,2024-03-31 23:30:00+00:00,True",
        'C2,"\'=HYPERLINK(""x"")",2023-12-01,,,2024-07-01 08:15:00+00:00,False',
        "C3,,,0.0,1,,True",
        'C4,"Zoë, ""the"" café",2024-02-29,99.99,12,2024-01-01 00:00:00+00:00,True',
    ]
    back = pd.read_csv(path)
    assert list(back.columns) == list(rows().columns)
    assert back["mrr"].tolist()[0] == 120.5 and np.isnan(back["mrr"].tolist()[1])


def test_parquet_keeps_types_dates_as_dates(tmp_path: Path) -> None:
    path = export_frame(rows(), tmp_path / "customers.parquet")
    schema = pq.read_schema(path)
    assert schema.names == list(rows().columns)
    assert schema.field("started_at").type == pa.date32()
    assert schema.field("renewed_at").type == pa.timestamp("ns", tz="UTC")
    assert schema.field("mrr").type == pa.float64()
    assert schema.field("seats").type == pa.int64()
    assert schema.field("active").type == pa.bool_()
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, rows())


def test_excel_cells_dates_numbers_and_converted_time_zone(tmp_path: Path) -> None:
    path = export_frame(rows(), tmp_path / "customers.xlsx", sheet="customers",
                        timezone="Europe/Berlin")
    back = pd.read_excel(path, sheet_name="customers")
    assert list(back.columns) == list(rows().columns)
    assert back["customer_id"].tolist() == ["C1", "C2", "C3", "C4"]
    assert back["name"].tolist()[:2] == ["Acme", '=HYPERLINK("x")']
    assert pd.isna(back["name"][2])
    assert pd.api.types.is_datetime64_dtype(back["started_at"])
    assert back["started_at"].tolist()[:2] == [pd.Timestamp("2024-01-31"),
                                                pd.Timestamp("2023-12-01")]
    assert pd.isna(back["started_at"][2])
    assert back["mrr"].tolist()[0] == 120.5 and pd.isna(back["mrr"][1])
    # UTC 23:30 on 31 March 2024 is 01:30 on 1 April in Berlin (summer time, UTC+2);
    # UTC 00:00 on 1 January is 01:00 in Berlin (winter time, UTC+1)
    assert back["renewed_at"].tolist()[0] == pd.Timestamp("2024-04-01 01:30:00")
    assert back["renewed_at"].tolist()[3] == pd.Timestamp("2024-01-01 01:00:00")
    assert back["renewed_at"].dt.tz is None
    assert back["active"].tolist() == [True, False, True, True]


def test_excel_layout_bold_frozen_header_widths_and_text_never_a_formula(
    tmp_path: Path,
) -> None:
    path = export_frame(rows(), tmp_path / "customers.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["data"]
    sheet = book["data"]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])
    assert not sheet["A2"].font.b
    assert sheet["B3"].data_type == "s" and sheet["B3"].value == '=HYPERLINK("x")'
    assert sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["F2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["B4"].value is None and sheet["D3"].value is None  # missing -> empty cell
    widths = {col: sheet.column_dimensions[col].width for col in "ABCDEFG"}
    # longest value + 2: header "customer_id" (11); '=HYPERLINK("x")' (15); a date (10);
    # "active" (6) and True (4) -> the 8-character minimum
    assert (widths["A"], widths["B"], widths["C"], widths["G"]) == (13, 17, 12, 8)


def test_excel_sheet_name_is_cleaned_and_cut_to_31_characters(tmp_path: Path) -> None:
    path = export_frame(rows(), tmp_path / "x.xlsx",
                        sheet="Revenue: net/gross [monthly] by plan and region")
    assert openpyxl.load_workbook(path).sheetnames == ["Revenue_ net_gross _monthly_ by"]


def test_named_index_becomes_a_column_unnamed_index_is_dropped(tmp_path: Path) -> None:
    frame = rows().set_index("customer_id")
    back = pd.read_csv(export_frame(frame, tmp_path / "a.csv"))
    assert list(back.columns)[0] == "customer_id"
    filtered = rows()[rows()["active"]]  # index 0, 2, 3
    back = pd.read_csv(export_frame(filtered, tmp_path / "b.csv"))
    assert list(back.columns) == list(rows().columns)
    assert back["customer_id"].tolist() == ["C1", "C3", "C4"]


def test_mixed_column_is_text_in_parquet_and_decimals_stay_decimals(tmp_path: Path) -> None:
    frame = pd.DataFrame({"value": [1, "two", None], "amount": [Decimal("1.10"), None,
                                                               Decimal("2.25")]})
    path = export_frame(frame, tmp_path / "mixed.parquet")
    schema = pq.read_schema(path)
    assert schema.field("value").type == pa.string()
    assert pa.types.is_decimal(schema.field("amount").type)
    back = pd.read_parquet(path)
    assert back["value"].tolist() == ["1", "two", None]
    assert back["amount"].tolist() == [Decimal("1.10"), None, Decimal("2.25")]


def test_frame_bytes_match_the_file_and_read_back(tmp_path: Path) -> None:
    for fmt in FORMATS:
        content, media_type = frame_bytes(rows(), fmt)
        assert media_type == FORMATS[fmt].media_type
        if fmt == "csv":
            assert content == export_frame(rows(), tmp_path / "x.csv").read_bytes()
    content, _ = frame_bytes(rows(), "parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(content)), rows())
    content, _ = frame_bytes(rows(), "XLSX")
    assert pd.read_excel(io.BytesIO(content))["customer_id"].tolist() == ["C1", "C2", "C3", "C4"]


def test_empty_frame_exports_its_header(tmp_path: Path) -> None:
    empty = rows().iloc[0:0]
    assert pd.read_csv(export_frame(empty, tmp_path / "e.csv")).columns.tolist() == list(
        rows().columns)
    assert pd.read_excel(export_frame(empty, tmp_path / "e.xlsx")).columns.tolist() == list(
        rows().columns)
    assert pd.read_parquet(export_frame(empty, tmp_path / "e.parquet")).shape == (0, 7)


def test_unknown_extension_names_it_and_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"'\.xls'.*\.xlsx.*\.csv, \.parquet, \.xlsx"):
        export_frame(rows(), tmp_path / "report.xls")
    with pytest.raises(UserInputError, match="no extension"):
        export_frame(rows(), tmp_path / "report")
    with pytest.raises(UserInputError, match=r"'json'.*csv, parquet, xlsx"):
        frame_bytes(rows(), "json")
    assert os.listdir(tmp_path) == []


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        export_frame(rows(), tmp_path / "nowhere" / "x.csv")


def test_failed_export_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "customers.xlsx"
    target.write_bytes(b"previous export")
    too_long = pd.DataFrame({"note": ["x" * 40_000]})
    with pytest.raises(UserInputError, match=r"'note', row 1: 40,000 characters"):
        export_frame(too_long, target)
    assert target.read_bytes() == b"previous export"
    assert os.listdir(tmp_path) == ["customers.xlsx"]  # no temporary file left behind


def test_download_name_is_safe() -> None:
    assert download_name("mrr", "xlsx") == "mrr.xlsx"
    assert download_name("../revenue by plan", "CSV") == "revenue_by_plan.csv"
