"""Reports: exports of any table of rows (CSV, Parquet, Excel) and rendered reports."""
