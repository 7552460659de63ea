"""Loading CSV files (and the bundled bank data) as time-ordered sandbox leads."""

from datetime import UTC, datetime

import pytest

from connector.sandbox.seeding import (
    SeedError, hs_property_name, load_bank, load_csv, sf_field_name)


def test_field_names_per_crm():
    assert sf_field_name("emp.var.rate") == "Emp_Var_Rate__c"
    assert sf_field_name("day_of_week") == "Day_Of_Week__c"
    assert hs_property_name("emp.var.rate", "bank_") == "bank_emp_var_rate"
    assert hs_property_name("Day Of Week") == "day_of_week"
    assert hs_property_name("email") == "csv_email" and hs_property_name("2nd") == "x2nd"
    assert sf_field_name("2nd call") == "X2nd_Call__c"
    long = "a_very_long_column_name_that_goes_past_the_limit_of_forty"
    assert sf_field_name(long) == "A_Very_Long_Column_Name_That_Goes_Past_T__c"
    assert sf_field_name(long, {"a_very_long_column_name_that_goes_past_t__c"}) == \
        "A_Very_Long_Column_Name_That_Goes_Past_2__c"


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


def _lines(header: str, rows: int, value=lambda i: "a") -> str:
    return header + "\n" + "".join(f"{i},{value(i)},{'Y' if i % 3 else 'N'}\n" for i in range(rows))


def test_long_and_empty_column_names_are_made_valid_and_said(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("n,a_very_long_column_name_that_goes_past_the_limit_of_forty_one,,"
                    "a_very_long_column_name_that_goes_past_the_limit_of_forty_two,won\n"
                    + "".join(f"{i},x,,y,Y\n" for i in range(20)))
    data = load_csv(path, outcome_column="won", positive="Y")
    fields = [c.sf_field for c in data.columns]
    assert fields == ["N__c", "A_Very_Long_Column_Name_That_Goes_Past_T__c",
                      "A_Very_Long_Column_Name_That_Goes_Past_2__c"]
    assert all(len(f) <= 43 for f in fields) and len(set(fields)) == 3
    assert [c.hs_property for c in data.columns][0] == "n"  # no demo-data prefix
    assert "column 3 has no name: skipped" in data.notes
    assert sum("field names stop at 40 characters" in note for note in data.notes) == 2
    assert load_bank().columns[0].hs_property.startswith("bank_")


def test_a_long_value_names_its_line_and_column_without_echoing_it(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(_lines("n,note,won", 12, lambda i: "x" * 1_000_000 if i == 7 else "a"))
    with pytest.raises(SeedError) as raised:
        load_csv(path, outcome_column="won", positive="Y")
    said = str(raised.value)
    assert "line 9, column 'note': a value of 1,000,000 characters" in said and len(said) < 300


def test_a_file_that_is_not_utf8_names_its_line_and_column(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(_lines("n,town,won", 5, lambda i: "Orléans" if i == 3 else "Lyon")
                     .encode("latin-1"))
    with pytest.raises(SeedError, match=r"line 5, column 'town': not UTF-8 \(byte 0xe9\)"):
        load_csv(path, outcome_column="won", positive="Y")


def test_long_column_names_seed_both_crms(tmp_path):
    from connector.sandbox import Sandbox
    path = tmp_path / "leads.csv"
    path.write_text("n,the_number_of_contacts_performed_during_this_campaign,won\n"
                    + "".join(f"{i},{i % 4},{'Y' if i % 3 else 'N'}\n" for i in range(30)))
    data = load_csv(path, outcome_column="won", positive="Y")
    with Sandbox(seed=data, directory=tmp_path / "sb") as box:
        assert "The_Number_Of_Contacts_Performed_During__c" in box.salesforce.sobject("Lead").fields
        contact = next(iter(box.hubspot.hidden_outcomes()))
        assert contact and len(box.salesforce.hidden_outcomes()) == 6
