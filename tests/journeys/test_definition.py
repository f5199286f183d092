"""A definition that cannot run is refused before activation, naming the step; an import with an unknown
step kind or template is refused whole."""

import pytest

from journeys.definition import check
from journeys.models import Journey, JourneyError
from journeys.publish import activate
from journeys.transfer import export_journey, import_journey


def problems_of(steps, start=None):
    return check({"start": start or steps[0]["id"], "steps": steps})


def test_a_good_definition_has_no_problem():
    assert problems_of([
        {"id": "a", "kind": "email", "template": "T", "next": "w"},
        {"id": "w", "kind": "wait", "days": 1, "next": "a"},  # a loop with a wait is fine
    ]) == []


def test_an_unreachable_step_is_named():
    found = problems_of([{"id": "a", "kind": "exit"}, {"id": "lost", "kind": "exit"}])
    assert found == ["Step 'lost' cannot be reached from the start."]


def test_a_loop_without_a_wait_is_named():
    found = problems_of([
        {"id": "a", "kind": "points", "points": 5, "next": "b"},
        {"id": "b", "kind": "condition", "rule": {"field": "frequency", "op": ">", "value": 1}, "yes": "a",
         "no": "end"},
        {"id": "end", "kind": "exit"},
    ])
    assert len(found) == 1 and "'a' → 'b' → 'a'" in found[0] and "loop without a wait" in found[0]


def test_a_branch_without_both_exits_is_named():
    found = problems_of([{"id": "ask", "kind": "wait_event", "event": "order", "timeout_days": 3, "happened": "x"},
                         {"id": "x", "kind": "exit"}])
    assert found == ["Step 'ask': a branch needs both exits; 'timed_out' is missing"]


@pytest.mark.django_db
def test_a_missing_template_refuses_activation_naming_the_step(entry_segment):
    journey = Journey.objects.create(slug="j", name="J", entry_segment=entry_segment, definition={
        "start": "hello", "steps": [{"id": "hello", "kind": "email", "template": "Nope"}]})
    with pytest.raises(JourneyError, match="Step 'hello': template 'Nope' does not exist"):
        activate(journey)
    journey.refresh_from_db()
    assert journey.state == "draft" and journey.live_version is None


@pytest.mark.django_db
def test_export_then_import_gives_the_same_journey(make_journey):
    journey = make_journey([{"id": "hello", "kind": "email", "template": "Welcome 1", "next": "w"},
                            {"id": "w", "kind": "wait", "days": 2}], holdout_percent=10, exit_on_conversion=True)
    data = export_journey(journey)
    copy = import_journey(data, slug="copy")
    assert copy.state == "draft" and copy.definition == journey.definition and copy.holdout_percent == 10
    assert export_journey(copy) | {"slug": journey.slug} == data


@pytest.mark.django_db
def test_an_import_with_an_unknown_kind_or_template_is_refused_whole(make_journey):
    data = export_journey(make_journey([{"id": "hello", "kind": "email", "template": "Welcome 1"}]))
    data["definition"]["steps"] += [{"id": "sms", "kind": "sms"}, {"id": "b", "kind": "email", "template": "Gone"}]
    data["definition"]["steps"][0]["next"] = "sms"
    with pytest.raises(JourneyError) as refused:
        import_journey(data, slug="other")
    assert "Step 'sms': unknown kind 'sms'" in str(refused.value)
    assert "Step 'b': template 'Gone' does not exist" in str(refused.value)
    assert not Journey.objects.filter(slug="other").exists()


@pytest.mark.django_db
def test_the_import_command_names_the_file_and_the_step(make_journey, tmp_path, run_command_output):
    import json

    from django.core.management import CommandError

    data = export_journey(make_journey([{"id": "hello", "kind": "email", "template": "Welcome 1"}]))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(data))
    data["definition"]["steps"][0]["kind"] = "fax"
    bad.write_text(json.dumps(data))
    assert "journey 'moved' created as a draft" in run_command_output("import_journey", str(good), "--slug", "moved")
    with pytest.raises(CommandError, match=r"bad.json: .*Step 'hello': unknown kind 'fax'"):
        run_command_output("import_journey", str(bad), "--slug", "other")
