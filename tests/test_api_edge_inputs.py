"""Edge inputs a black-box tester sent: Order History searches of every wrong shape, a cancel with an empty
`lineIds`, uploads with over-long file names or the file part twice. Each is a 400 naming the property,
never a 500, a silent coercion or a silent cut."""

import pytest

from tests.api_support import UPLOAD, Api, error_props, media_in
from workvisits import rules, services
from workvisits.choices import OrderStatus
from workvisits.models import Attachment, Order

pytestmark = pytest.mark.django_db
RETRIEVE = "/v1/retrieve-orders"
PDF = b"%PDF-1.4 a letter"


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    media_in(settings, tmp_path)


def reasons(response) -> dict[str, str]:
    return {info["property"]: info["reason"] for entry in response.json() for info in entry["additionalInfo"]}


# -- Order History ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "search, prop",
    [
        ({"sorts": [None]}, "sorts[0]"),
        ({"sorts": [1]}, "sorts[0]"),
        ({"sorts": [[]]}, "sorts[0]"),
        ({"sorts": "createdAt"}, "sorts"),
        ({"sorts": [{"name": None, "direction": "ASC"}]}, "sorts[0].name"),
        ({"sorts": [{"name": 5}]}, "sorts[0].name"),
        ({"sorts": [{"name": "ibx", "direction": 1}]}, "sorts[0].direction"),
        ({"sorts": [{"name": "ibx", "x": 1}]}, "sorts[0].x"),
        ({"sorts": [{"name": "ibx"}] * 5}, "sorts"),
        ({"filters": []}, "filters"),
        ({"filters": 7}, "filters"),
        ({"filters": {"x": 1}}, "filters.x"),
        ({"filters": {"ibxs": [None]}}, "filters.ibxs[0]"),
        ({"filters": {"ibxs": [1]}}, "filters.ibxs[0]"),
        ({"filters": {"ibxs": [""]}}, "filters.ibxs[0]"),
        ({"filters": {"ibxs": "DC2"}}, "filters.ibxs"),
        ({"filters": {"ibxs": [{"code": "DC2"}]}}, "filters.ibxs[0]"),
        ({"filters": {"productTypes": [None]}}, "filters.productTypes[0]"),
        ({"filters": {"productTypes": {}}}, "filters.productTypes"),
        ({"filters": {"orderStatus": [None]}}, "filters.orderStatus[0]"),
        ({"filters": {"orderStatus": "ENTERED"}}, "filters.orderStatus"),
        ({"filters": {"orderStatus": [1]}}, "filters.orderStatus[0]"),
        ({"filters": {"dateRange": 7}}, "filters.dateRange"),
        ({"filters": {"dateRange": ["LAST_7_DAYS"]}}, "filters.dateRange"),
        ({"filters": {"fromDate": 20261201}}, "filters.fromDate"),
        ({"filters": {"toDate": []}}, "filters.toDate"),
        ({"filters": {"toDate": "9999-12-31"}}, "filters.toDate"),
        ({"q": 5}, "q"),
        ({"q": ["ACME"]}, "q"),
        ({"q": {}}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"source": 5}, "source"),
        ({"page": []}, "page"),
        ({"page": "0"}, "page"),
        ({"page": {"number": None, "size": "20"}}, "page.size"),
        ({"page": {"number": "1"}}, "page.number"),
        ({"page": {"number": 1.5}}, "page.number"),
        ({"page": {"number": True}}, "page.number"),
        ({"page": {"size": 0}}, "page.size"),
        ({"page": {"size": 10**30}}, "page.size"),
        ({"page": {"number": 10**30}}, "page.number"),
        ({"page": {"size": 20, "offset": 3}}, "page.offset"),
        ({"other": 1}, "other"),
        ('"search"', "$"),  # a JSON string, not an object
        (None, None),  # a null body is an empty search (below)
    ],
)
def test_a_search_of_any_wrong_shape_is_400_naming_the_property(orderer, search, prop):
    response = Api(orderer).post(RETRIEVE, search)
    if prop is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.content
    assert error_props(response) in ({"EQ-2010010": [prop]}, {"EQ-2016011": [prop]})


def test_a_search_s_errors_say_what_is_allowed_as_the_create_s_do(orderer):
    api = Api(orderer)
    found = reasons(
        api.post(
            RETRIEVE,
            {
                "filters": {"orderStatus": ["FOO"], "dateRange": "FOREVER", "x": 1},
                "sorts": [{"name": "colour", "direction": "UP"}],
                "page": {"size": 1000},
            },
        )
    )
    assert "ENTERED" in found["filters.orderStatus[0]"] and "CLOSED" in found["filters.orderStatus[0]"]
    assert "LAST_7_DAYS" in found["filters.dateRange"] and "CUSTOM" in found["filters.dateRange"]
    assert "remove it" in found["filters.x"] and "ibxs" in found["filters.x"]
    assert "createdAt" in found["sorts[0].name"] and "orderNumber" in found["sorts[0].name"]
    assert "ASC" in found["sorts[0].direction"] and "DESC" in found["sorts[0].direction"]
    assert "1 to 100" in found["page.size"]
    assert all(reason.startswith(prop) for prop, reason in found.items()), found
    stock = ("is not a valid choice", "Expected a dictionary", "Ensure this value", "Not a valid")
    assert not [reason for reason in found.values() if any(words in reason for words in stock)], found
    listed = reasons(api.post(RETRIEVE, {"filters": [], "sorts": [None], "q": 5}))
    assert listed == {
        "filters": "filters must be an object, not an array.",
        "q": "q must be a string, not a number.",
        "sorts[0]": "sorts[0] must be an object, not null.",
    }


def test_every_error_of_a_search_comes_back_at_once_in_body_order(orderer):
    response = Api(orderer).post(
        RETRIEVE,
        {"page": {"number": -1}, "sorts": [None], "q": 5, "filters": {"fromDate": "yesterday", "ibxs": [1]}},
    )
    assert response.status_code == 400
    assert error_props(response) == {
        "EQ-2010010": ["filters.ibxs[0]", "filters.fromDate", "q", "sorts[0]", "page.number"]
    }


def test_valid_searches_still_work_with_nulls_as_absent(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body(customerReferenceId="EDGE-1"))
    api = Api(orderer)
    search = {
        "filters": {
            "ibxs": ["dc2"],
            "productTypes": ["WORK_VISIT"],
            "orderStatus": ["ENTERED", "QUEUED"],
            "dateRange": "CUSTOM",
            "fromDate": "2000-01-01",
            "toDate": "2999-12-31T00:00:00Z",
        },
        "source": "CUSTOMER_PORTAL",
        "q": " edge-1 ",
        "sorts": [{"name": "orderNumber"}, {"name": "createdAt", "direction": "ASC"}],
        "page": {"number": 0, "size": 5},
    }
    response = api.post(RETRIEVE, search)
    assert response.status_code == 200, response.json()
    assert [o["orderNumber"] for o in response.json()["content"]] == [order.order_id]
    assert response.json()["page"] == {"size": 5, "totalElements": 1, "totalPages": 1, "number": 0}
    nulls = {
        "filters": {key: None for key in search["filters"]},
        "source": None,
        "q": None,
        "sorts": None,
        "page": {"number": None, "size": None},
    }
    response = api.post(RETRIEVE, nulls)
    assert response.status_code == 200, response.json()
    assert response.json()["page"]["totalElements"] == 1 and response.json()["page"]["size"] == 20


# -- Cancel -----------------------------------------------------------------------------------------
def test_cancel_with_an_empty_line_list_is_refused_and_the_order_stays(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    response = Api(orderer).post(
        f"/colocations/v2/orders/{order.order_id}/cancel", {"reason": "Plans changed", "lineIds": []}
    )
    assert response.status_code == 400, response.json()
    assert error_props(response) == {"EQ-2010010": ["lineIds"]}
    assert f"{order.order_id}-1" in reasons(response)["lineIds"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUEUED


# -- Uploads ----------------------------------------------------------------------------------------
BOUNDARY = "edgeBoundary7MA4YWxkTrZu0gW"


def multipart(*parts: tuple[str, str, bytes]) -> bytes:
    """A multipart/form-data body of (part name, file name, content) as sent, names uncut."""
    out = b""
    for field, filename, content in parts:
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                "Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def send(api: Api, body: bytes, path: str = UPLOAD):
    return api.post(path, body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


@pytest.mark.parametrize("length", [256, 300, 900, 1000, 5000])
def test_an_over_long_file_name_is_refused_at_the_part_with_the_limit(orderer, length):
    response = send(Api(orderer), multipart(("uploadFile", "a" * (length - 4) + ".pdf", PDF)))
    assert response.status_code == 400, response.content
    assert error_props(response) == {"EQ-2010010": ["uploadFile"]}
    reason = reasons(response)["uploadFile"]
    assert "file name" in reason and str(rules.ATTACHMENT_NAME_MAX) in reason
    assert not Attachment.objects.exists()


def test_a_file_name_of_the_limit_is_kept_whole(orderer):
    name = "a" * (rules.ATTACHMENT_NAME_MAX - 4) + ".pdf"
    response = send(Api(orderer), multipart(("uploadFile", name, PDF)))
    assert response.status_code == 201, response.content
    assert response.json()["attachmentName"] == name


def test_the_file_part_twice_is_refused_naming_it(orderer):
    api = Api(orderer)
    response = send(api, multipart(("uploadFile", "one.pdf", PDF), ("uploadFile", "two.pdf", PDF)))
    assert response.status_code == 400, response.content
    assert error_props(response) == {"EQ-2010010": ["uploadFile"]}
    assert "2" in reasons(response)["uploadFile"] and "one file" in reasons(response)["uploadFile"]
    legacy = send(
        api,
        multipart(("file", "one.pdf", PDF), ("uploadFile", "two.pdf", PDF)),
        path="/colocations/v2/attachments/file",
    )
    assert legacy.status_code == 400 and set(error_props(legacy)["EQ-2010010"]) <= {"file", "uploadFile"}
    assert not Attachment.objects.exists()


def test_more_files_than_django_takes_is_an_error_array_not_a_500(orderer):
    parts = [(f"part{i}", f"f{i}.pdf", PDF) for i in range(101)]
    response = send(Api(orderer), multipart(*parts))
    assert response.status_code == 400, response.content
    assert error_props(response) == {"EQ-2010010": ["uploadFile"]}
    assert "one file" in reasons(response)["uploadFile"]
    assert not Attachment.objects.exists()
