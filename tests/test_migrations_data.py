"""Data migrations do to stored rows what they say (run here on the live models, as a migration's code)."""

import importlib
from types import SimpleNamespace

from django.apps import apps
from django.db import connection

from workvisits import services
from workvisits.models import Visitor

visitor_phone_is_mobile = importlib.import_module("workvisits.migrations.0017_visitor_phone_is_mobile")


def test_a_visitors_phone_stored_as_phone_reads_back_as_mobile(orderer, make_body):
    typed_in = {
        "firstName": "Vera",
        "lastName": "Visser",
        "companyName": "Fixit BV",
        "details": [{"type": "EMAIL", "value": "vera@fixit.example"}, {"type": "MOBILE", "value": "+31 6 1"}],
    }
    body = make_body()
    body["details"]["visitors"].append(typed_in)
    order = services.order_create(user=orderer, data=body)
    visitor = order.visitors.get(first_name="Vera")
    # As the wizard stored a phone before visitors took EMAIL or MOBILE only.
    Visitor.objects.filter(pk=visitor.pk).update(
        details=[{"type": "EMAIL", "value": "vera@fixit.example"}, {"type": "PHONE", "value": "+31 6 1"}]
    )
    untouched = list(Visitor.objects.exclude(pk=visitor.pk).values_list("pk", "details"))

    visitor_phone_is_mobile.phone_to_mobile(apps, SimpleNamespace(connection=connection))

    visitor.refresh_from_db()
    assert visitor.details == [{"type": "EMAIL", "value": "vera@fixit.example"}, {"type": "MOBILE", "value": "+31 6 1"}]
    assert list(Visitor.objects.exclude(pk=visitor.pk).values_list("pk", "details")) == untouched
