"""Portal users' usernames at the data centre: imported from a CSV file (by username or email, again
without change, refused rows with reasons), edited in the admin, and set for the demo users by seed_demo."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from workvisits.models import Cabinet, Cage, OrderingGrant, User


def _import(tmp_path, text: str | bytes):
    path = tmp_path / "usernames.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    out, err = io.StringIO(), io.StringIO()
    call_command("import_upstream_usernames", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _names() -> dict[str, str | None]:
    return dict(User.objects.values_list("username", "upstream_username"))


def test_importing_by_username_and_again_changes_nothing(demo, tmp_path):
    csv = "username,upstream_username\nviewer,acme_viewer\nglobex,globex_gary\n"
    out, err = _import(tmp_path, csv)
    assert "2 set, 0 cleared, 0 unchanged, 0 refused" in out and "set: viewer, globex" in out and err == ""
    assert (_names()["viewer"], _names()["globex"]) == ("acme_viewer", "globex_gary")
    before = _names()
    out, _ = _import(tmp_path, csv)
    assert "0 set, 0 cleared, 2 unchanged, 0 refused" in out and _names() == before


def test_importing_by_email_ignores_its_case(demo, tmp_path):
    out, _ = _import(tmp_path, "Email,Upstream_Username\nVIEWER@acme.example,acme_viewer\n")
    assert "1 set" in out and _names()["viewer"] == "acme_viewer"


def test_refused_rows_say_why_and_the_good_rows_are_applied(demo, tmp_path):
    csv = (
        "username,upstream_username\n"
        "nobody,someone\n"  # row 2
        "viewer,acme orderer\n"  # row 3
        "viewer,acme_viewer\n"  # row 4: applied
        "viewer,acme_viewer2\n"  # row 5: viewer twice
        "globex,acme_viewer\n"  # row 6: name twice in the file
        "reviewer,acme_orderer\n"  # row 7: held by orderer, who keeps it
        ",acme_x\n"  # row 8
    )
    out, err = _import(tmp_path, csv)
    assert "1 set, 0 cleared, 0 unchanged, 6 refused" in out
    refused = dict(line.strip().split(": ", 1) for line in err.strip().splitlines())
    assert refused == {
        "refused row 2": "There is no portal user 'nobody'.",
        "refused row 3": "The upstream username 'acme orderer' contains a space; a username has none.",
        "refused row 5": "User viewer is already given a name in row 4.",
        "refused row 6": "'acme_viewer' is already given to another user in row 4.",
        "refused row 7": "'acme_orderer' is already the upstream username of orderer.",
        "refused row 8": "username is required.",
    }
    names = _names()
    assert (names["viewer"], names["orderer"], names["reviewer"], names["globex"]) == (
        "acme_viewer",
        "acme_orderer",
        None,
        None,
    )


def test_names_can_move_between_users_and_a_blank_removes_one(demo, tmp_path):
    out, _ = _import(
        tmp_path,
        "username,upstream_username\norderer,acme_technician\ntechnician,acme_orderer\nviewer,\n",
    )
    assert "2 set, 0 cleared, 1 unchanged, 0 refused" in out
    assert (_names()["orderer"], _names()["technician"]) == ("acme_technician", "acme_orderer")
    out, _ = _import(tmp_path, "username,upstream_username\norderer,\n")
    assert "cleared: orderer" in out and _names()["orderer"] is None


def test_a_move_that_depends_on_a_refused_one_is_refused_too(demo, tmp_path):
    # technician cannot take reviewer_x (reviewer keeps it), so orderer cannot take technician's name.
    User.objects.filter(username="reviewer").update(upstream_username="reviewer_x")
    out, err = _import(tmp_path, "username,upstream_username\ntechnician,reviewer_x\norderer,acme_technician\n")
    assert "0 set" in out and "2 refused" in out
    assert "'acme_technician' is already the upstream username of technician." in err
    assert (_names()["orderer"], _names()["technician"]) == ("acme_orderer", "acme_technician")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"user,name\nviewer,x\n", "needs a header row with the columns username,upstream_username"),
        (b"username,email,upstream_username\nviewer,v@x,x\n", "needs a header row"),
        (b"username,upstream_username,colour\n", "Unknown CSV columns: colour"),
        (b"username,upstream_username\n", "has no rows"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_usernames_csv_is_refused(demo, tmp_path, data, message):
    before = _names()
    with pytest.raises(CommandError, match=message):
        _import(tmp_path, data)
    assert _names() == before


def test_the_admin_shows_searches_and_edits_upstream_usernames(client, users):
    client.force_login(users["admin"])
    page = client.get(reverse("admin:workvisits_user_changelist"), {"q": "acme_technician"})
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [users["technician"]]
    change = client.get(reverse("admin:workvisits_user_change", args=[users["viewer"].pk]))
    assert 'name="upstream_username"' in change.content.decode()

    form = change.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions")}
    data.update(
        {
            "upstream_username": "acme_orderer",  # orderer's
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        }
    )
    data["organization"] = users["viewer"].organization_id
    taken = client.post(reverse("admin:workvisits_user_change", args=[users["viewer"].pk]), data)
    errors = taken.context["adminform"].form.errors
    assert taken.status_code == 200 and errors == {
        "upstream_username": ["User with this Upstream username already exists."]
    }, errors
    data["upstream_username"] = "acme_viewer"
    saved = client.post(reverse("admin:workvisits_user_change", args=[users["viewer"].pk]), data)
    assert saved.status_code == 302 and _names()["viewer"] == "acme_viewer"
    data["upstream_username"] = ""
    client.post(reverse("admin:workvisits_user_change", args=[users["viewer"].pk]), data)
    assert _names()["viewer"] is None  # stored as NULL: many users may have none


def _state():
    return (
        sorted(User.objects.values_list("username", "upstream_username", "password", "email")),
        sorted(Cage.objects.values_list("cage_id", "active")),
        sorted(Cabinet.objects.values_list("cabinet_id", "account__number")),
        OrderingGrant.objects.count(),
    )


def test_seed_demo_sets_the_sandbox_usernames_once_and_keeps_an_operators_change(demo):
    names = _names()
    assert (names["orderer"], names["technician"], names["viewer"]) == ("acme_orderer", "acme_technician", None)
    before = _state()
    call_command("seed_demo", stdout=io.StringIO())
    assert _state() == before

    User.objects.filter(username="orderer").update(upstream_username="olivia.orderer")
    call_command("seed_demo", stdout=io.StringIO())
    assert _names()["orderer"] == "olivia.orderer"
