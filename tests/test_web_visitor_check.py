"""Visitor rows pasted or read from a CSV file are checked at once, before Next: each row's errors at
the row in words, and one sentence naming the rows to correct."""

import pytest
from django.urls import reverse

from tests.test_web_messages import JSON_PATH
from tests.test_web_wizard import visitors

URL = reverse("wizard_visitors_check")


KEYS = ("first_name", "last_name", "company_name", "email", "phone")
ANN = ("Ann", "Alpha", "Contoso", "ann@contoso.example", "")
BEN = ("Ben", "Beta", "Contoso", "x,victim@corp.example", "")  # two addresses in one
CAT = ("Cat", "Gamma", "", "", "+31 20 555 0100")  # no company
DAN = ("Dan", "Delta", "Contoso", "dan@contoso.example", "")
EVE = ("Eve", "Epsilon", "Contoso", "", "+31 20 555 0101")


def rows_data(*people, registered=()):
    return visitors(registered=registered, people=[dict(zip(KEYS, p, strict=True)) for p in people])


@pytest.fixture
def orderer_client(client, orderer):
    client.force_login(orderer)
    return client


def test_each_pasted_row_is_checked_with_its_own_error_in_words(orderer_client):
    response = orderer_client.post(
        URL,
        rows_data(ANN, BEN, CAT, DAN),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    rows = html.split("data-row>")[1:]
    assert len(rows) == 4
    assert 'id="id_visitors-1-email_error"' in rows[1] and "The email of Person 2 (Ben Beta)" in rows[1]
    assert 'id="id_visitors-2-company_name_error"' in rows[2]
    assert "invalid-feedback" not in rows[0] + rows[3]
    assert 'value="x,victim@corp.example"' in rows[1]  # what was pasted stays to be corrected
    status = html.split('id="paste-status"')[1]
    assert "2 of 4 people need a correction: Person 2 (Ben Beta), Person 3 (Cat Gamma)." in status
    assert not JSON_PATH.search(html)


def test_rows_that_pass_say_so(orderer_client):
    response = orderer_client.post(
        URL,
        rows_data(ANN, EVE, registered=["orderer"]),
    )
    assert "All 2 people are fine." in response.content.decode()
    assert "invalid-feedback" not in response.content.decode()


def test_only_someone_who_may_order_can_ask(client, viewer):
    client.force_login(viewer)
    assert client.post(URL, rows_data(ANN)).status_code == 403
