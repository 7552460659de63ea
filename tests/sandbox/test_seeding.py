"""Loading CSV files (and the bundled bank data) as time-ordered sandbox leads."""

from datetime import UTC, datetime

import pytest

from connector.sandbox.seeding import (
    SeedError, hs_property_name, load_bank, load_csv, sf_field_name)


def test_field_names_per_crm():
    assert sf_field_name("emp.var.rate") == "Emp_Var_Rate__c"
    assert sf_field_name("day_of_week") == "Day_Of_Week__c"
    assert hs_property_name("emp.var.rate") == "bank_emp_var_rate"
    assert hs_property_name("Day Of Week") == "bank_day_of_week"


def test_bank_data_shape_and_split():
    data = load_bank()
    assert len(data.rows) == 41188
    assert "y" not in {c.name for c in data.columns}
    assert len(data.columns) == 20
    kinds = {c.name: c.kind for c in data.columns}
    assert kinds["age"] == "int" and kinds["euribor3m"] == "float" and kinds["job"] == "text"
    open_rows = [r for r in data.rows if r.is_open]
    assert len(open_rows) == round(41188 * 0.2)
    assert all(r.is_open for r in data.rows[-len(open_rows):])
    assert sum(r.outcome for r in data.rows) == 4640
    assert data.rows[0].created_at == datetime(2008, 5, 1, 9, 0, tzinfo=UTC)
    assert data.rows[-1].created_at == datetime(2010, 11, 30, 17, 0, tzinfo=UTC)
    assert all(a.created_at <= b.created_at for a, b in zip(data.rows, data.rows[1:]))


def test_generic_csv_with_options(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("score,region,won\n1,north,Y\n2,,N\n3.5,south,Y\n4,east,N\n")
    data = load_csv(path, outcome_column="won", positive="Y", open_share=0.5)
    assert [c.kind for c in data.columns] == ["float", "text"]
    assert [r.outcome for r in data.rows] == [True, False, True, False]
    assert [r.is_open for r in data.rows] == [False, False, True, True]
    assert data.rows[1].values == {"score": 2.0, "region": None}


@pytest.mark.parametrize("content, fragment", [
    ("a,b\n1,2\n", "no column 'won'"),
    ("a,won\n", "no data rows"),
    ("a,won\n1,Y\n2\n", ":3: 1 values where the header has 2"),
])
def test_bad_csv_names_file_and_problem(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(SeedError, match=fragment):
        load_csv(path, outcome_column="won", positive="Y")


def test_missing_file(tmp_path):
    with pytest.raises(SeedError, match="cannot read seed file"):
        load_csv(tmp_path / "nope.csv")
