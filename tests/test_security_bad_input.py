"""Never a 5xx for bad input: NUL bytes and invalid UTF-8 in paths and query strings, dates at the end of
the calendar in the wizard, the live schedule check, reschedule and the API."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.api_support import Api, error_props
from tests.test_web_wizard import LOCATION, management, schedule, step_url
from workvisits import services
from workvisits.models import Order

ATTACHMENT = uuid.UUID("00000000-0000-4000-8000-000000000001")  # fixed: xdist workers must collect the same ids


@pytest.fixture
def order(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


@pytest.fixture
def signed_in(orderer):
    client = Client(raise_request_exception=False)
    client.force_login(orderer)
    return client


@pytest.fixture
def admin_client_(users):
    client = Client(raise_request_exception=False)
    client.force_login(users["admin"])
    return client


NUL_PAGES = [
    ("get", "/orders/%00/"),
    ("get", "/orders/%00/placed/"),
    ("get", f"/orders/%00/attachments/{ATTACHMENT}/"),
    ("post", "/orders/%00/reschedule/"),
    ("post", "/orders/%00/notification-contact/"),
    ("post", "/orders/%00/cancel/"),
    ("get", "/orders/WV-%00%00/"),
    ("get", "/?q=%00"),
    ("get", "/?status=%00&ibx=DC2"),
]


@pytest.mark.parametrize("method, path", NUL_PAGES)
def test_a_nul_byte_in_a_customer_page_address_is_a_400(signed_in, order, method, path):
    response = getattr(signed_in, method)(path)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/workvisits/order/?status__exact=%00",
        "/admin/workvisits/order/?q=%00",
        "/admin/workvisits/order/?organization__id__exact=1%00",
        "/admin/workvisits/order/%00/change/",
        "/admin/workvisits/user/?q=%FF%FE",
    ],
)
def test_a_nul_byte_or_invalid_utf8_in_an_admin_filter_is_a_400(admin_client_, path):
    assert admin_client_.get(path).status_code == 400


def test_the_api_names_the_parameter_with_a_nul_and_answers_a_nul_path_in_its_format(orderer):
    api = Api(orderer)
    response = api.get("/colocations/v2/orders?status=%00")
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["status"]}
    assert api.get("/colocations/v2/orders/WV-%00").status_code == 404
    assert api.get("/v1/attachments/%00/file").status_code == 404


def test_a_visit_start_bound_at_the_end_of_the_calendar_is_a_400(orderer):
    response = Api(orderer).get("/colocations/v2/orders", {"visitStartTo": "9999-12-31"})
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["visitStartTo"]}
    assert Api(orderer).get("/colocations/v2/orders", {"visitStartTo": "2030-12-31"}).status_code == 200


def test_api_instants_that_cannot_be_shown_in_the_ibx_zone_are_refused(orderer, make_body):
    body = make_body()
    body["details"]["visitStartDateTime"] = "9999-12-31T20:00:00Z"
    body["details"]["visitEndDateTime"] = "9999-12-31T23:59:00Z"
    response = Api(orderer).post("/colocations/v2/orders/workVisits", body)
    assert response.status_code == 400
    assert set(error_props(response)["EQ-2010010"]) == {"details.visitStartDateTime", "details.visitEndDateTime"}


def test_the_wizard_says_a_date_at_the_end_of_the_calendar_is_out_of_range(orderer):
    client = Client(raise_request_exception=False)
    client.force_login(orderer)
    prefix = management(client)
    assert client.post(step_url("location"), {f"{prefix}-current_step": "location", **LOCATION}).status_code == 302
    response = client.post(
        step_url("schedule"),
        {f"{prefix}-current_step": "schedule", **schedule("9999-12-31T20:00", "9999-12-31T23:59")},
    )
    assert response.status_code == 200
    assert "That date is too far ahead. Work visits are ordered at most 365 days" in response.content.decode()


def test_the_live_schedule_check_says_so_too(signed_in):
    response = signed_in.post(
        reverse("wizard_schedule_check"),
        {"ibx": "DC2", "schedule-start": "9999-12-31T22:00", "schedule-end": "9999-12-31T23:59"},
    )
    assert response.status_code == 200
    assert "That date is too far ahead. Work visits are ordered at most 365 days" in response.content.decode()


def test_reschedule_to_the_end_of_the_calendar_is_a_field_error(signed_in, order):
    response = signed_in.post(
        reverse("order_reschedule", kwargs={"order_id": order.order_id}),
        {"start": "9999-12-31T22:00", "end": "9999-12-31T23:59", "version": order.version},
    )
    assert response.status_code == 400
    assert "That date is too far ahead. Work visits are ordered at most 365 days" in response.content.decode()
    assert Order.objects.get(pk=order.pk).version == order.version


# ---------------------------------------------------------------------------------------------
# The fuzz: customer and admin paths and query strings with NUL bytes, invalid UTF-8 and huge dates.
BAD_TEXT = st.sampled_from(
    [
        "%00",
        "a%00b",
        "%FF",
        "%C0%AF",
        "%ED%A0%80",  # an encoded lone surrogate
        "9999-12-31T23:59",
        "9999-12-31",
        "99999999999999999999",
        "-1",
        "%E2%80%AE",
        "0001-01-01T00:00",
        "%25",
        "'",
    ]
)
CUSTOMER_PATHS = [
    "/",
    "/orders/{x}/",
    "/orders/{x}/placed/",
    "/orders/{x}/attachments/" + str(ATTACHMENT) + "/",
    "/new/schedule/",
    "/wizard/cages/?location-ibx={x}",
    "/wizard/cabinets/?cage={x}&location-ibx=DC2",
]
CUSTOMER_QUERIES = ["q", "status", "ibx", "when", "page"]
ADMIN_PATHS = [
    "/admin/workvisits/order/",
    "/admin/workvisits/order/{x}/change/",
    "/admin/workvisits/orderevent/",
    "/admin/workvisits/upstreamcall/",
    "/admin/workvisits/user/",
    "/admin/workvisits/apiclient/",
    "/admin/workvisits/cage/",
    "/admin/workvisits/orderinggrant/",
]
ADMIN_QUERIES = [
    "q",
    "status__exact",
    "ibx__id__exact",
    "organization__id__exact",
    "organization_name",
    "visit",
    "problem",
    "created_at__gte",
    "created_at__year",
    "o",
    "p",
]
FUZZ = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _no_5xx(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code < 500, (path, response.status_code)


@FUZZ
@given(path=st.sampled_from(CUSTOMER_PATHS), key=st.sampled_from(CUSTOMER_QUERIES), value=BAD_TEXT, x=BAD_TEXT)
def test_fuzzed_customer_pages_never_answer_5xx(signed_in, order, path, key, value, x):
    url = path.format(x=x)
    _no_5xx(signed_in, f"{url}{'&' if '?' in url else '?'}{key}={value}")


@FUZZ
@given(path=st.sampled_from(ADMIN_PATHS), key=st.sampled_from(ADMIN_QUERIES), value=BAD_TEXT, x=BAD_TEXT)
def test_fuzzed_admin_pages_never_answer_5xx(admin_client_, order, path, key, value, x):
    _no_5xx(admin_client_, f"{path.format(x=x)}?{key}={value}")


@pytest.fixture
def api(orderer):
    api = Api(orderer)
    api.client.raise_request_exception = False
    return api


@FUZZ
@given(key=st.sampled_from(["visitStartFrom", "visitStartTo", "status", "ibx", "page", "size"]), value=BAD_TEXT)
def test_fuzzed_api_queries_never_answer_5xx(api, key, value):
    response = api.get(f"/colocations/v2/orders?{key}={value}")
    assert response.status_code < 500, (key, value, response.status_code)
