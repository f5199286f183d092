import pytest
from django.core.management import CommandError, call_command

from crm.models import Client, SurveyAnswer

GOOD = """client_id,kind,score,answered_at
C1,nps,9,2026-03-01
C2,csat,4,2026-03-02 10:00
C1,csat,5,2026-03-03
"""

BROKEN = """client_id,kind,score,answered_at
C1,nps,9,2026-03-01
C2,nps,11,2026-03-02
C3,stars,4,2026-03-02
C4,csat,3,yesterday
"""


@pytest.fixture
def write(tmp_path):
    def make(text, name="answers.csv"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return make


def test_it_imports_answers_and_changes_nothing_the_second_time(db, write, run_command_output):
    path = write(GOOD)
    run_command_output("import_surveys", str(path))
    assert sorted(SurveyAnswer.objects.values_list("client__external_id", "kind", "score")) == [
        ("C1", "csat", 5), ("C1", "nps", 9), ("C2", "csat", 4)]
    run_command_output("import_surveys", str(path))
    assert SurveyAnswer.objects.count() == 3


def test_it_names_file_line_and_field_and_imports_nothing(db, write, capsys):
    path = write(BROKEN)
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_surveys", str(path))
    err = capsys.readouterr().err
    assert "answers.csv:3: score:" in err
    assert "answers.csv:4: kind:" in err
    assert "answers.csv:5: answered_at:" in err
    assert SurveyAnswer.objects.count() == 0
    assert not Client.objects.exists()  # not even the bare clients of the valid row


def test_it_keeps_rejected_rows_when_told_to_skip_them(db, write, run_command_output):
    path = write(BROKEN)
    run_command_output("import_surveys", str(path), "--skip-invalid")
    assert list(SurveyAnswer.objects.values_list("client__external_id", "score")) == [("C1", 9)]
    rejected = (path.parent / "answers.rejected.csv").read_text(encoding="utf-8").splitlines()
    assert len(rejected) == 4  # header and the three bad rows, each with its reason
    assert rejected[0].endswith("error")
    assert "C2,nps,11" in rejected[1]
