"""The request bodies' structure, checked by the API's serializers, with the rules after them: the same
error arrays as when the rules checked everything (tests/data/api_error_corpus.json holds the bodies and
the arrays they got then), except that a purchase order's startDate or endDate that is not a string is now
refused (it was silently dropped)."""

import json
from pathlib import Path

import pytest

from workvisits import rules
from workvisits.api import errors
from workvisits.api import schemas as s
from workvisits.api import structure as st

from .test_rules import CTX, FACTS

CORPUS = json.loads((Path(__file__).parent / "data" / "api_error_corpus.json").read_text())


def _errors(kind, body) -> list:
    serializer = {
        "create": s.CreateRequestSerializer,
        "modify": s.ModifyRequestSerializer,
        "cancel": s.CancelRequestSerializer,
    }[kind]
    structure, _ = st.check(serializer, body)
    shape = rules.Shape(e.path for e in structure)
    if kind == "create":
        domain, _ = rules.validate_create(body, CTX, "orderer", shape)
    elif kind == "modify":
        domain, _ = rules.validate_modify(body, CTX, FACTS, shape)
    else:
        domain = []
    found = st.in_check_order(serializer, structure, domain)
    grouped = errors.violation_response(rules.RuleViolation(found)).data
    return [[entry["errorCode"], [[i["property"], i["reason"]] for i in entry["additionalInfo"]]] for entry in grouped]


@pytest.mark.parametrize("case", range(len(CORPUS)))
def test_the_error_array_of_each_body_is_as_before(case):
    entry = CORPUS[case]
    assert _errors(entry["kind"], entry["body"]) == entry["errors"]


def _request_schema(document: dict, path: str, method: str) -> dict:
    ref = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


@pytest.mark.parametrize(
    "path, method, serializer",
    [
        ("/colocations/v2/orders/workVisits", "post", s.CreateRequestSerializer),
        ("/colocations/v2/orders/workVisits/{orderId}", "patch", s.ModifyRequestSerializer),
        ("/colocations/v2/orders/{orderId}/cancel", "post", s.CancelRequestSerializer),
    ],
)
def test_the_openapi_document_shows_the_properties_the_serializers_check(path, method, serializer):
    """One declaration: the document's properties are those the check accepts, and one more is refused."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = _request_schema(document, path, method)
    assert set(schema["properties"]) == set(serializer().fields)
    found, _ = st.check(serializer, {**{name: None for name in schema.get("required", [])}, "colour": "red"})
    assert ("colour", rules.INVALID) in [(e.path, e.code) for e in found]
    assert {e.path for e in found if e.code == rules.MISSING} <= set(schema.get("required", []))


def test_limits_come_from_the_rules_in_the_document_and_the_check():
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    create = _request_schema(document, "/colocations/v2/orders/workVisits", "post")
    assert create["properties"]["description"]["maxLength"] == rules.DESCRIPTION_MAX
    cancel = _request_schema(document, "/colocations/v2/orders/{orderId}/cancel", "post")
    assert cancel["properties"]["lineIds"]["maxItems"] == rules.MAX_CANCEL_LINE_IDS
    too_many = {"description": "Long enough text", "attachments": [{"id": "a"}] * (rules.MAX_ATTACHMENTS + 1)}
    found, _ = st.check(s.CreateRequestSerializer, too_many)
    assert [e.path for e in found if e.path.startswith("attachments")] == ["attachments"]


def test_the_document_gives_visitors_email_or_mobile_and_contacts_any_number_of_details():
    from drf_spectacular.generators import SchemaGenerator

    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    visitor_details = schemas["Visitor"]["properties"]["details"]
    visitor_type = schemas[visitor_details["items"]["$ref"].rsplit("/", 1)[1]]["properties"]["type"]
    def enum(prop):
        return schemas[(prop.get("$ref") or prop["allOf"][0]["$ref"]).rsplit("/", 1)[1]]["enum"]

    assert enum(visitor_type) == ["EMAIL", "MOBILE"]
    assert f"At most {rules.MAX_VISITOR_DETAILS}" in visitor_details["description"]
    contact_details = schemas["Contact"]["properties"]["details"]
    assert "At most" not in contact_details["description"]
    contact_type = schemas[contact_details["items"]["$ref"].rsplit("/", 1)[1]]["properties"]["type"]
    assert enum(contact_type) == ["EMAIL", "PHONE", "MOBILE"]
    create = schemas["CreateRequest"]
    assert "description" not in create.get("required", [])


def test_the_wizard_s_way_of_writing_a_visitor_passes_the_api_s_check():
    """A visitor typed in the wizard with an email and a phone: the body the API would take."""
    from workvisits.web.forms.visitors import PersonForm

    typed = {"first_name": "Bo", "last_name": "Vis", "company_name": "Acme", "email": "bo@example.com"}
    form = PersonForm(data={**typed, "phone": "+31 6 1234 5678"})
    assert form.is_valid()
    found, _ = st.check(s.VisitorSerializer, form.person())
    assert found == []
    assert [d["type"] for d in form.person()["details"]] == ["EMAIL", "MOBILE"]
