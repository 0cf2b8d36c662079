"""The locations import: Lookup v2 merged with the v1 answer (recorded, and served over real HTTP to the
command), answers that cannot be read refused with the reason, and a CSV file with good and bad rows
uploaded in the admin. Each run reports what it created, updated and retired, and every entry it refused."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
LOOKUP = "/colocations/v2/locations"
V1 = "/v1/orders/workvisit/locations"


def _answer():
    return json.loads((DATA / "upstream_locations.json").read_text())


def _v1():
    return json.loads((DATA / "upstream_workvisit_locations_v1.json").read_text())


def _active(model, key):
    return set(model.objects.filter(active=True).values_list(key, flat=True))


def test_lookup_v2_merged_with_v1_creates_updates_and_retires(demo):
    sync = locations.import_locations_answer(answer=_answer(), v1_answer=_v1())
    assert sync.source == "upstream"
    assert sync.summary["cages"] == {"created": ["DC2:01:123458"], "updated": [], "retired": ["AM1:02:200101"]}
    assert sync.summary["cabinets"] == {
        "created": ["DC2:01:123456:0103", "DC2:01:123458:0301"],
        "updated": ["DC2:01:123456:0101"],
        "retired": ["AM1:02:200101:0001", "DC2:01:123456:0102"],
    }
    # Credit hold comes from v1 only; the cabinet stays billed to the account v1 lists it under.
    assert sync.summary["accounts"]["updated"] == ["1234567891"]
    assert Account.objects.get(number="1234567891").is_credit_hold
    assert Cabinet.objects.get(cabinet_id="DC2:01:123457:0201").account.number == "1234567891"
    new_cage = Cage.objects.get(cage_id="DC2:01:123458")
    assert (new_cage.organization.name, new_cage.cage_type, new_cage.ibx.code) == ("Acme Corp", "SUITE", "DC2")
    assert Cabinet.objects.get(cabinet_id="DC2:01:123456:0101").cabinet_type == "HALF_CABINET"
    assert "AM1:02:200101" not in _active(Cage, "cage_id")
    assert "DC2:01:123456:0102" not in _active(Cabinet, "cabinet_id")

    refused = {e["where"]: e["message"] for e in sync.errors}
    assert set(refused) == {"crossConnects[0].cages[4]", "crossConnects[0].cages[6]", "crossConnects[2].cages[0]"}
    assert "starting with 'DC2:01:123458:'" in refused["crossConnects[0].cages[4]"]
    assert "organization is unknown" in refused["crossConnects[0].cages[6]"]
    # A single object where the answer declares an array is read as one item (SV5's cages).
    assert "IBX SV5 is not in the catalogue" in refused["crossConnects[2].cages[0]"]
    assert not Cage.objects.filter(cage_id__in=["DC2:03:999999", "SV5:01:000001"]).exists()


def test_without_the_v1_answer_the_flags_stay_as_they_were(demo):
    account = Account.objects.get(number="1234567891")
    account.is_credit_hold, account.is_po_bearing = True, True
    account.save()
    sync = locations.import_locations_answer(answer=_answer())
    account.refresh_from_db()
    assert (account.is_credit_hold, account.is_po_bearing) == (True, True)
    assert sync.summary["accounts"]["updated"] == []
    # Lookup v2 alone does not say which of a cage entry's accounts a cabinet is billed to: the first.
    assert Cabinet.objects.get(cabinet_id="DC2:01:123457:0201").account.number == "1234567890"


def _refusing_orders(answer, number):
    """The Lookup v2 answer with `allowOrder: false` on account `number` wherever it is listed."""
    for location in answer["crossConnects"]:
        accounts = location["accounts"] if isinstance(location["accounts"], list) else [location["accounts"]]
        for account in accounts:
            if account["accountNumber"] == number:
                account["allowOrder"] = False
    return answer


@pytest.mark.parametrize("v1", [None, {}], ids=["no v1 answer", "v1 without the account"])
def test_an_account_lookup_v2_does_not_allow_to_order_is_on_credit_hold_when_v1_does_not_say(demo, v1):
    assert not Account.objects.get(number="1234567890").is_credit_hold
    sync = locations.import_locations_answer(answer=_refusing_orders(_answer(), "1234567890"), v1_answer=v1)
    assert Account.objects.get(number="1234567890").is_credit_hold
    assert "1234567890" in sync.summary["accounts"]["updated"]
    # allowOrder true says nothing of a credit hold: the others stay as they were.
    assert not Account.objects.get(number="2000000001").is_credit_hold


def test_v1s_credit_hold_flag_rules_over_allow_order(demo):
    answer = _refusing_orders(_refusing_orders(_answer(), "1234567890"), "2000000001")
    locations.import_locations_answer(answer=answer, v1_answer=_v1())  # v1: isCreditHold false for both
    assert not Account.objects.get(number="1234567890").is_credit_hold
    assert not Account.objects.get(number="2000000001").is_credit_hold


def test_a_v1_answer_of_an_empty_object_is_an_empty_list(demo):
    sync = locations.import_locations_answer(answer=_answer(), v1_answer={})
    assert not Account.objects.get(number="1234567891").is_credit_hold
    assert not [e for e in sync.errors if not e["where"].startswith("crossConnects")]


def test_importing_the_same_answers_again_changes_nothing(demo):
    locations.import_locations_answer(answer=_answer(), v1_answer=_v1())
    again = locations.import_locations_answer(answer=_answer(), v1_answer=_v1())
    assert all(not names for changes in again.summary.values() for names in changes.values())
    assert locations.sync_counts(again) == "no change"


def test_a_retired_cage_listed_again_comes_back(demo):
    locations.import_locations_answer(answer=_answer(), v1_answer=_v1())
    answer, v1 = _answer(), _v1()
    answer["crossConnects"][1]["cages"].append(
        {"id": "AM1:02:200101", "type": "CAGE", "accountNumbers": "2000000002", "cabinetId": "AM1:02:200101:0001"}
    )
    v1["locations"][1]["cages"] = [
        v1["locations"][1]["cages"],
        {"cage": "AM1:02:200101", "accounts": [{"number": "2000000002", "isCreditHold": False}]},
    ]
    sync = locations.import_locations_answer(answer=answer, v1_answer=v1)
    assert sync.summary["cages"]["updated"] == ["AM1:02:200101"]
    assert sync.summary["accounts"]["updated"] == ["2000000002"]  # on hold in the demo, no longer
    assert Cage.objects.get(cage_id="AM1:02:200101").active
    assert Cabinet.objects.get(cabinet_id="AM1:02:200101:0001").active


def _broken(path, value):
    """The recorded Lookup v2 answer with the value at `path` (keys and indexes) replaced."""
    answer = _answer()
    target = answer
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return answer


@pytest.mark.parametrize(
    ("answer", "v1", "message"),
    [
        ({"crossConnects": []}, None, "listed no cage at all"),
        (None, None, "Lookup v2 answer is empty"),
        ({"data": []}, None, "has no crossConnects"),
        ({"crossConnects": None}, None, "has no crossConnects"),
        (_v1(), None, "has no crossConnects (it looks like the v1 answer"),
        ([{"ibx": "DC2"}], None, "the Lookup v2 answer must be an object with crossConnects, not a list"),
        ({"crossConnects": "DC2"}, None, "crossConnects must be a list, not text"),
        (_broken(["crossConnects", 0, "cages"], "DC2:01:123456"), None, "crossConnects[0].cages must be a list"),
        (_broken(["crossConnects", 1, "cages", 0, "id"], {"id": 1}), None, "crossConnects[1].cages[0].id must be text"),
        (_broken(["crossConnects", 0, "cages", 2], 7), None, "crossConnects[0].cages[2] must be an object"),
        (_answer(), ["not", "v1"], "the v1 answer must be an object with locations, not a list"),
        (_answer(), {"locations": "DC2"}, "locations must be a list, not text"),
        (
            _answer(),
            {"locations": [{"ibx": "DC2", "cages": [{"accounts": [{"number": "1", "isCreditHold": "maybe"}]}]}]},
            "locations[0].cages[0].accounts[0].isCreditHold must be true or false, not text",
        ),
    ],
)
def test_an_answer_that_cannot_be_read_is_refused_with_the_reason_and_retires_nothing(demo, answer, v1, message):
    before = (_active(Cage, "cage_id"), _active(Cabinet, "cabinet_id"))
    with pytest.raises(locations.ImportRefused) as refused:
        locations.import_locations_answer(answer=answer, v1_answer=v1)
    assert message in str(refused.value)
    assert (_active(Cage, "cage_id"), _active(Cabinet, "cabinet_id")) == before
    assert not LocationSync.objects.exists()


# ---------------------------------------------------------------------------------------------
# The command against an upstream over real HTTP: a small server that answers what it is told.
class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = {}  # path -> (status, content type, body)
        self.requests = []

    def answer(self, path, body, status=200, content_type="application/json"):
        text = body if isinstance(body, str) else json.dumps(body)
        self.answers[path] = (status, content_type, text)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def _reply(self, status, content_type, text):
        data = text.encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(("POST", self.path))
        self._reply(200, "application/json", json.dumps({"access_token": "t0k3n", "token_timeout": "3599"}))

    def do_GET(self):  # noqa: N802
        self.server.requests.append(("GET", self.path))
        default = (404, "application/json", json.dumps([{"errorCode": "EQ-404", "errorMessage": "Not found"}]))
        self._reply(*self.server.answers.get(self.path.split("?")[0], default))

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream(settings):
    server = _Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.UPSTREAM_BASE_URL = server.url
    yield server
    server.shutdown()
    server.server_close()


def _command(*args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_locations", *args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_the_command_imports_lookup_v2_and_v1_from_the_upstream_over_http(demo, upstream, settings):
    upstream.answer(LOOKUP, _answer())
    upstream.answer(V1, _v1())
    out, err = _command()
    assert "cages created: DC2:01:123458" in out and "cages retired: AM1:02:200101" in out
    assert "refused crossConnects[2].cages[0]" in err
    assert Account.objects.get(number="1234567891").is_credit_hold
    paths = [path for method, path in upstream.requests if method == "GET"]
    assert paths == [f"{LOOKUP}?permissionCode=WORK_VISIT&details=true", f"{V1}?detail=true"]

    # The periodic task beat sends is registered under its name and does the same.
    assert app.tasks["workvisits.import_locations"].apply().get().startswith("no change; ")
    assert settings.CELERY_BEAT_SCHEDULE["import locations"]["task"] == "workvisits.import_locations"


def test_an_unavailable_v1_answer_keeps_the_flags_and_says_so(demo, upstream):
    upstream.answer(LOOKUP, _answer())  # v1 answers 404: retired upstream
    out, err = _command()
    assert "cages created: DC2:01:123458" in out
    assert "refused v1 locations: Not available (HTTP 404" in err and "flags were left as they were" in err
    assert not Account.objects.get(number="1234567891").is_credit_hold


def test_with_v1_unavailable_an_account_not_allowed_to_order_over_http_is_on_credit_hold(demo, upstream):
    upstream.answer(LOOKUP, _refusing_orders(_answer(), "1234567890"))  # v1 answers 404
    _command()
    assert Account.objects.get(number="1234567890").is_credit_hold
    assert not Account.objects.get(number="1234567891").is_credit_hold


def test_a_v1_answer_of_204_is_an_empty_list(demo, upstream):
    upstream.answer(LOOKUP, _answer())
    upstream.answer(V1, "", status=204)
    out, err = _command()
    assert "cages created: DC2:01:123458" in out and "v1 locations" not in err


@pytest.mark.parametrize(
    ("path", "status", "content_type", "body", "message"),
    [
        (LOOKUP, 200, "text/html", "<html><body>Gateway maintenance</body></html>", "answer is not JSON (text/html)"),
        (LOOKUP, 200, "application/json", "{}", "has no crossConnects"),
        (LOOKUP, 204, "application/json", "", "Lookup v2 answer is empty"),
        (V1, 200, "text/html", "<html>maintenance</html>", "v1 locations answer cannot be read"),
        (V1, 200, "application/json", '{"locations": {"cages": 5}}', "locations[0].cages must be a list, not a number"),
    ],
)
def test_an_unreadable_upstream_answer_is_recorded_refused_and_retires_nothing(
    demo, upstream, path, status, content_type, body, message
):
    upstream.answer(LOOKUP, _answer())
    upstream.answer(V1, _v1())
    upstream.answer(path, body, status=status, content_type=content_type)
    before = _active(Cage, "cage_id")
    with pytest.raises(CommandError) as refused:
        _command()
    assert message in str(refused.value)
    sync = LocationSync.objects.get()
    assert sync.errors[0]["where"] == "upstream" and message in sync.errors[0]["message"]
    assert sync.summary == {} and _active(Cage, "cage_id") == before


def test_an_unreachable_upstream_is_recorded_and_the_command_fails(demo, settings):
    settings.UPSTREAM_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(CommandError):
        _command()
    sync = LocationSync.objects.get()
    assert sync.errors[0]["where"] == "upstream" and sync.summary == {}


def test_the_command_imports_saved_answers(demo, tmp_path):
    v1 = str(DATA / "upstream_workvisit_locations_v1.json")
    out, err = _command(answer=str(DATA / "upstream_locations.json"), v1_answer=v1)
    assert "cages created: DC2:01:123458" in out and "accounts updated: 1234567891" in out
    assert "refused crossConnects[2].cages[0]" in err

    page = tmp_path / "saved.json"
    page.write_text("<!DOCTYPE html><html><title>Sign in</title></html>")
    with pytest.raises(CommandError, match="saved.json is not a saved Lookup v2 answer: it is not JSON"):
        _command(answer=str(page))
    with pytest.raises(CommandError, match="looks like the v1 answer"):
        _command(answer=v1)
    with pytest.raises(CommandError, match="--v1-answer goes with --answer"):
        _command(v1_answer=v1)
    assert LocationSync.objects.count() == 1


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
