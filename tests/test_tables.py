"""coretf.tables: every type and condition, and golden errors that name the file and the line."""

import re

import pytest

from coretf import tables

SAMPLES = tables.Table("sample", (
    tables.Column("sample", key=True),
    tables.Column("depth_cm", float, checks=(tables.FINITE, tables.NON_NEGATIVE)),
    tables.Column("bottom_cm", float, default=None),
    tables.Column("count", int, default=0, checks=(tables.POSITIVE,)),
    tables.Column("kept", bool, default=False),
    tables.Column("axis", ("x", "y")),
    tables.Column("site", tables.Pattern(r"[A-Z]\d+", "a capital letter then digits"), default="U1"),
), exceeds=(("bottom_cm", "depth_cm"),))

HEADER = "sample,depth_cm,bottom_cm,count,kept,axis,site\n"


def _read(tmp_path, text, table=SAMPLES):
    path = tmp_path / "samples.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return table.read(path)


def _error(tmp_path, text, table=SAMPLES) -> str:
    with pytest.raises(ValueError) as info:
        _read(tmp_path, text, table)
    return str(info.value).replace(str(tmp_path / "samples.csv"), "<csv>")


def test_each_type_is_parsed_and_empty_cells_take_the_default(tmp_path):
    rows = _read(tmp_path, HEADER + "a, 1.5 ,2,3,YES,X,B12\nb,0,,,no,y,\n\n,,,,,,\nc,2e1,,1,0,x,A1\n")
    assert [row.key for row in rows] == ["a", "b", "c"]  # blank and all-empty rows skipped
    assert rows[0].values == {"sample": "a", "depth_cm": 1.5, "bottom_cm": 2.0, "count": 3,
                              "kept": True, "axis": "x", "site": "B12"}
    assert rows[1].values == {"sample": "b", "depth_cm": 0.0, "bottom_cm": None, "count": 0,
                              "kept": False, "axis": "y", "site": "U1"}
    assert rows[2]["depth_cm"] == 20.0 and rows[2]["kept"] is False
    assert isinstance(rows[0]["count"], int) and isinstance(rows[0]["depth_cm"], float)
    assert rows[2].where == f"{tmp_path / 'samples.csv'}, line 6"  # the file's own line numbers


def test_optional_columns_may_be_left_out_and_unknown_columns_are_ignored(tmp_path):
    rows = _read(tmp_path, "notes,axis,sample,depth_cm\nfirst run,y,a,4\n")
    assert rows[0].values == {"sample": "a", "depth_cm": 4.0, "bottom_cm": None, "count": 0,
                              "kept": False, "axis": "y", "site": "U1"}


def test_header_quirks_of_spreadsheets_are_accepted(tmp_path):
    # A UTF-8 byte-order mark (Excel's "CSV UTF-8"), Windows line ends, spaces around names,
    # a quoted cell with a comma and empty cells beyond the header.
    text = "\ufeffsample , depth_cm,axis\r\n\"a,1\",3,x,,\r\n".encode()
    assert _read(tmp_path, text)[0].values["sample"] == "a,1"


@pytest.mark.parametrize("row, message", [
    ("a,x,,,,x,", "<csv>, line 2: could not read sample 'a': depth_cm 'x' is not a number"),
    ("a,1,,1.5,,x,", "<csv>, line 2: could not read sample 'a': count '1.5' is not a whole number"),
    ("a,1,,1_000,,x,", "<csv>, line 2: could not read sample 'a': count '1_000' is not a whole number"),
    ("a,1,,,maybe,x,", "<csv>, line 2: could not read sample 'a': kept 'maybe' is not true or false "
                       "(1/true/yes or 0/false/no)"),
    ("a,1,,,,z,", "<csv>, line 2: axis must be 'x' or 'y', got 'z'"),
    ("a,1,,,,x,u1", "<csv>, line 2: site 'u1' must be a capital letter then digits"),
    ("a,-1,,,,x,", "<csv>, line 2: need depth_cm >= 0 for sample 'a', got -1"),
    ("a,inf,,,,x,", "<csv>, line 2: need depth_cm to be finite for sample 'a', got inf"),
    ("a,nan,,,,x,", "<csv>, line 2: need depth_cm to be finite for sample 'a', got nan"),
    ("a,1,,0,,x,", "<csv>, line 2: need count > 0 for sample 'a', got 0"),
    ("a,,,,,x,", "<csv>, line 2: missing depth_cm for sample 'a'"),
    (",1,,,,x,", "<csv>, line 2: empty sample name"),
    ("a,2,2,,,x,", "<csv>, line 2: bottom_cm (2.0) must exceed depth_cm (2.0)"),
    ("a,2,3,,,x,B1,extra", "<csv>, line 2: 8 cells but the header has 7 columns"),
])
def test_golden_errors_name_the_file_and_line(tmp_path, row, message):
    assert _error(tmp_path, HEADER + row + "\n") == message


def test_duplicate_key_names_both_lines(tmp_path):
    text = HEADER + "a,1,,,,x,\n\nb,1,,,,x,\na,2,,,,y,\n"
    assert _error(tmp_path, text) == "<csv>, line 5: sample 'a' listed twice (first on line 2)"


def test_missing_and_repeated_columns(tmp_path):
    assert _error(tmp_path, "sample,axis,notes\na,x,\n") == (
        "<csv>: missing column(s) ['depth_cm']; found ['sample', 'axis', 'notes'] (needs columns "
        "'sample', 'depth_cm', 'axis'; may have 'bottom_cm', 'count', 'kept', 'site')")
    one = tables.Table("file", (tables.Column("file", key=True), tables.Column("px", float, default=None)))
    assert _error(tmp_path, "name,px\na,1\n", one) == (
        "<csv>: missing column(s) ['file']; found ['name', 'px'] (needs a 'file' column; may have 'px')")
    assert _error(tmp_path, "sample,depth_cm,axis,axis\na,1,x,y\n") == (
        "<csv>: column(s) ['axis'] appear more than once in the header")
    assert _read(tmp_path, "sample,depth_cm,axis,note,note\na,1,x,n1,n2\n")[0]["axis"] == "x"


def test_empty_tables(tmp_path):
    assert _error(tmp_path, HEADER) == "<csv>: lists no samples"
    assert _error(tmp_path, HEADER + "\n,,,,,,\n") == "<csv>: lists no samples"
    assert _error(tmp_path, "") == (
        "<csv>: missing column(s) ['sample', 'depth_cm', 'axis']; found [] (needs columns 'sample', "
        "'depth_cm', 'axis'; may have 'bottom_cm', 'count', 'kept', 'site')")
    notes = tables.Table("note", (tables.Column("note"),), allow_empty=True)
    assert _read(tmp_path, "note\n", notes) == []


def test_missing_file_and_bad_bytes(tmp_path):
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'none.csv'}: does not exist (a CSV "
                                                   "table, one row per sample: sample, depth_cm")):
        SAMPLES.read(tmp_path / "none.csv")
    assert _error(tmp_path, HEADER.encode() + b"a,1,,,,x,\xe9\n").startswith("<csv>: not UTF-8 text")


def test_custom_missing_message_and_row_errors(tmp_path):
    stacks = tables.Table("stack", (tables.Column("stack", key=True),
                                    tables.Column("rock_type", missing="{noun} {key!r} has no rock type")))
    assert _error(tmp_path, "stack,rock_type\ns1,\n", stacks) == "<csv>, line 2: stack 's1' has no rock type"
    row = _read(tmp_path, "stack,rock_type\ns1,soil\n", stacks)[0]
    assert str(row.error("no folder")) == f"{tmp_path / 'samples.csv'}, line 2: no folder"


def test_local_string_paths_work(tmp_path):
    (tmp_path / "t.csv").write_text("note\nhello\n")
    table = tables.Table("note", (tables.Column("note"),))
    assert table.read(str(tmp_path / "t.csv"))[0]["note"] == "hello"


def test_declarations_are_checked():
    with pytest.raises(TypeError, match="unknown kind"):
        tables.Column("a", list)
    with pytest.raises(ValueError, match="key column cannot have a default"):
        tables.Column("a", key=True, default="")
    with pytest.raises(ValueError, match="exceeds"):
        tables.Table("row", (tables.Column("a", float),), exceeds=(("a", "b"),))
