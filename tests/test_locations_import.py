"""The locations import: a recorded upstream answer, the live (sandbox) upstream through the command,
and a CSV file with good and bad rows uploaded in the admin. Each run reports what it created, updated
and retired, and every entry it refused."""

import io
import json
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from portal.celery import app
from workvisits import locations
from workvisits.models import IBX, Account, Cabinet, Cage, LocationSync

DATA = Path(__file__).parent / "data"


def _answer():
    return json.loads((DATA / "upstream_locations.json").read_text())


def _active(model, key):
    return set(model.objects.filter(active=True).values_list(key, flat=True))


def test_a_recorded_upstream_answer_creates_updates_and_retires(demo):
    sync = locations.import_locations_answer(answer=_answer())
    assert sync.source == "upstream"
    assert sync.summary["cages"] == {"created": ["DC2:01:123458"], "updated": [], "retired": ["AM1:02:200101"]}
    assert sync.summary["cabinets"] == {
        "created": ["DC2:01:123456:0103", "DC2:01:123458:0301"],
        "updated": ["DC2:01:123456:0101"],
        "retired": ["AM1:02:200101:0001", "DC2:01:123456:0102"],
    }
    assert sync.summary["accounts"]["updated"] == ["1234567891"]
    assert Account.objects.get(number="1234567891").is_credit_hold
    new_cage = Cage.objects.get(cage_id="DC2:01:123458")
    assert (new_cage.organization.name, new_cage.cage_type, new_cage.ibx.code) == ("Acme Corp", "SUITE", "DC2")
    assert Cabinet.objects.get(cabinet_id="DC2:01:123456:0101").cabinet_type == "HALF_CABINET"
    assert "AM1:02:200101" not in _active(Cage, "cage_id")
    assert "DC2:01:123456:0102" not in _active(Cabinet, "cabinet_id")

    refused = {e["where"]: e["message"] for e in sync.errors}
    assert set(refused) == {
        "locations[0].cages[2].accounts[0].cabinets[1]",
        "locations[0].cages[4].accounts[0].cabinets[0]",
        "locations[2].cages[0].accounts[0]",
    }
    assert "starting with 'DC2:01:123458:'" in refused["locations[0].cages[2].accounts[0].cabinets[1]"]
    assert "organization is unknown" in refused["locations[0].cages[4].accounts[0].cabinets[0]"]
    assert "IBX SV5 is not in the catalogue" in refused["locations[2].cages[0].accounts[0]"]
    assert not Cage.objects.filter(cage_id__in=["DC2:03:999999", "SV5:01:000001"]).exists()


def test_importing_the_same_answer_again_changes_nothing(demo):
    locations.import_locations_answer(answer=_answer())
    again = locations.import_locations_answer(answer=_answer())
    assert all(not names for changes in again.summary.values() for names in changes.values())
    assert locations.sync_counts(again) == "no change"


def test_a_retired_cage_listed_again_comes_back(demo):
    locations.import_locations_answer(answer=_answer())
    answer = _answer()
    answer["locations"][1]["cages"].append(
        {
            "cage": "AM1:02:200101",
            "cageTypes": ["CAGE"],
            "accounts": [{"number": "2000000002", "name": "Acme Amsterdam lab", "isCreditHold": True, "cabinets": []}],
        }
    )
    sync = locations.import_locations_answer(answer=answer)
    assert sync.summary["cages"]["updated"] == ["AM1:02:200101"]
    assert Cage.objects.get(cage_id="AM1:02:200101").active


def test_an_answer_without_cages_is_refused_and_retires_nothing(demo):
    before = _active(Cage, "cage_id")
    with pytest.raises(locations.ImportRefused):
        locations.import_locations_answer(answer={"locations": []})
    assert _active(Cage, "cage_id") == before and not LocationSync.objects.exists()


def test_the_command_imports_from_the_sandbox_upstream_over_http(demo, settings):
    from workvisits.upstream import sandbox

    server, url = sandbox.start_in_thread()
    settings.UPSTREAM_BASE_URL = url
    try:
        out = io.StringIO()
        call_command("import_locations", stdout=out, stderr=io.StringIO())
        assert "no change" in out.getvalue()  # the sandbox lists the demo catalogue
        # The periodic task beat sends is registered under its name and does the same.
        assert app.tasks["workvisits.import_locations"].run.__module__ == "workvisits.locations"
        assert locations.import_locations.apply().get() == "no change; 0 errors"
        assert settings.CELERY_BEAT_SCHEDULE["import locations"]["task"] == "workvisits.import_locations"
        server.state.catalogue = [loc for loc in sandbox._default_catalogue() if loc["ibx"] == "DC2"]
        out = io.StringIO()
        call_command("import_locations", stdout=out, stderr=io.StringIO())
    finally:
        server.shutdown()
        server.server_close()
    assert "cages retired: AM1:02:200100, AM1:02:200101" in out.getvalue()
    assert not _active(Cage, "cage_id") & {"AM1:02:200100", "AM1:02:200101"}


def test_an_unreachable_upstream_is_recorded_and_the_command_fails(demo, settings):
    settings.UPSTREAM_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(CommandError):
        call_command("import_locations", stdout=io.StringIO(), stderr=io.StringIO())
    sync = LocationSync.objects.get()
    assert sync.errors[0]["where"] == "upstream" and sync.summary == {}


def test_the_command_imports_a_saved_answer(demo):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_locations", answer=str(DATA / "upstream_locations.json"), stdout=out, stderr=err)
    assert "cages created: DC2:01:123458" in out.getvalue()
    assert "refused locations[2].cages[0].accounts[0]" in err.getvalue()


def test_a_csv_with_good_and_bad_rows_uploaded_in_the_admin(client, users):
    client.force_login(users["operator"])
    with open(DATA / "locations.csv", "rb") as upload:
        response = client.post(reverse("admin:workvisits_locationsync_upload"), {"file": upload})
    sync = LocationSync.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{sync.pk}/change/")
    assert (sync.source, sync.started_by) == ("csv", users["operator"])
    assert sync.summary["ibxs"]["created"] == ["FR2"]
    assert IBX.objects.get(code="FR2").timezone == "Europe/Berlin"
    assert sync.summary["cages"]["created"] == ["AM1:03:400400", "FR2:01:500500"]
    assert sync.summary["cabinets"]["created"] == [
        "AM1:02:200100:0002",
        "AM1:03:400400:0001",
        "FR2:01:500500:0001",
    ]
    assert sync.summary["accounts"]["created"] == ["4000000001", "4000000002"]
    assert Account.objects.get(number="4000000001").is_po_bearing
    assert Cage.objects.get(cage_id="AM1:03:400400").organization.name == "Globex Inc"
    # A refused row keeps the cage it names from being retired.
    assert sync.summary["cages"]["retired"] == [] and Cage.objects.get(cage_id="AM1:02:200101").active

    refused = {e["where"]: e["message"] for e in sync.errors}
    assert set(refused) == {"row 6", "row 7", "row 8", "row 9", "row 10"}
    assert "credit_hold must be true or false, not 'maybe'" in refused["row 6"]
    assert "Organization 'Initech' does not exist" in refused["row 7"]
    assert "cage is required" in refused["row 8"]
    assert "starting with 'AM1:'" in refused["row 9"]
    assert "IBX LD5 is not in the catalogue" in refused["row 10"]

    page = client.get(response["Location"])
    assert "row 7" in page.content.decode() and "FR2:01:500500" in page.content.decode()


def test_a_csv_retires_only_in_the_ibxs_it_names(demo):
    csv = b"ibx,cage,organization,account_number,cabinet\nAM1,AM1:02:200100,Acme Corp,2000000001,AM1:02:200100:0001\n"
    sync = locations.import_locations_csv(data=csv)
    assert sync.summary["cages"]["retired"] == ["AM1:02:200101"]
    assert {"DC2:01:123456", "DC2:01:123457", "DC2:02:300300"} <= _active(Cage, "cage_id")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ibx;cage\nDC2;DC2:01:1\n", "needs a header row"),
        (b"ibx,cage,account_number,colour\n", "Unknown CSV columns: colour"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_locations_csv_is_refused_on_the_form(client, users, data, message):
    client.force_login(users["operator"])
    upload = io.BytesIO(data)
    upload.name = "locations.csv"
    page = client.post(reverse("admin:workvisits_locationsync_upload"), {"file": upload})
    assert page.status_code == 200 and message in page.content.decode()
    assert not LocationSync.objects.exists()


def test_a_reviewer_cannot_import(client, users):
    client.force_login(users["reviewer"])
    assert client.get(reverse("admin:workvisits_locationsync_upload")).status_code == 403


def test_import_from_the_upstream_now_hands_the_task_to_a_worker(client, users, tmp_path, settings):
    from tests.pipeline_harness import RedisServer, use_broker

    broker = RedisServer(tmp_path)
    broker.start()
    use_broker(broker.url)
    try:
        client.force_login(users["operator"])
        url = reverse("admin:workvisits_locationsync_fetch")
        assert client.get(url).status_code == 403  # only a POST (the button) starts it
        response = client.post(url)
        assert response.status_code == 302
        assert broker.queue_length() == 1
        message = json.loads(redis.Redis(port=broker.port).lindex("celery", 0))
        assert message["headers"]["task"] == "workvisits.import_locations"
    finally:
        use_broker(settings.CELERY_BROKER_URL)
        broker.stop()


def test_a_refused_account_row_leaves_the_cage_as_it_was(demo):
    # Account 3000000001 is Globex's: a row claiming it for Acme's cage is refused, and the cage keeps
    # the account it had.
    csv = (
        b"ibx,cage,organization,account_number,cabinet\n"
        b"DC2,DC2:01:123456,Acme Corp,3000000001,\n"
        b"DC2,DC2:01:123456,Acme Corp,1234567890,DC2:01:123456:0101\n"
        b"DC2,DC2:01:123456,Acme Corp,1234567890,DC2:01:123456:0102\n"
    )
    sync = locations.import_locations_csv(data=csv)
    assert [e["where"] for e in sync.errors] == ["row 2"] and "belongs to Globex Inc" in sync.errors[0]["message"]
    cage = Cage.objects.get(cage_id="DC2:01:123456")
    assert [a.number for a in cage.accounts.all()] == ["1234567890"]
    assert sync.summary["cages"]["updated"] == []
