"""Helpers of the JSON API tests: tokens made through the credential services, calls with them."""

import copy
import json

from django.test import Client

from portal import correlation
from workvisits.api.errors import API_PREFIXES
from workvisits.models import Order
from workvisits.services import api_client_create, api_token_issue

SEED_CREATE_SAMPLE = {
    "description": "Monthly Routine check",
    "customerReferenceId": "048837d6-4cd8-401f-ba41-a4ac015c3f3e",
    "purchaseOrder": {
        "type": "EXISTING",
        "number": 1091238010,
        "amount": "2020",
        "startDate": "2020-05-22",
        "endDate": "2021-05-22",
        "attachmentId": "8d0bef9c-cca9-11ea-87d0-0242ac130003",
    },
    "attachments": [{"id": "c77c5f58-a7ea-4e88-9fc4-1a2900027425", "name": "error-log"}],
    "contacts": [
        {
            "registeredUsers": ["john_doe1"],
            "type": "NOTIFICATION",
            "availability": "WORK_HOURS",
            "timezone": "America/Los_Angeles",
        }
    ],
    "details": {
        "cages": [{"id": "DC2:01:123456", "accountNumber": "1234567890", "cabinetId": "DC2:01:123456:0101"}],
        "openCabinet": False,
        "visitStartDateTime": "2019-08-24T14:15:22Z",
        "visitEndDateTime": "2019-08-24T14:15:22Z",
        "visitors": [{"registeredUsers": ["john_doe1"]}],
    },
}
SEED_MODIFY_SAMPLE = {
    "contacts": [{"registeredUsers": ["john_doe1"], "type": "NOTIFICATION"}],
    "details": {
        "visitStartDateTime": "2020-12-17'T'09:15:44Z",
        "visitEndDateTime": "2020-12-18'T'09:15:44Z",
        "openCabinet": False,
    },
}


UPLOAD = "/v1/attachments/file"
LEGACY_UPLOAD = "/colocations/v2/attachments/file"
ERROR_KEYS = {"errorCode", "errorMessage", "correlationId", "additionalInfo"}
ERROR_INFO_KEYS = {"property", "reason", "value"}


def token_for(user) -> str:
    client, secret = api_client_create(user=user, name="tests")
    token, _ = api_token_issue(client_id=client.client_id, client_secret=secret)
    return token


class Api:
    """A Django test client that sends the bearer token and JSON bodies."""

    def __init__(self, user=None, token: str | None = None):
        self.client = Client()
        self.token = token or (token_for(user) if user is not None else None)

    def _headers(self, headers):
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**base, **(headers or {})}

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path, body=None, headers=None, content_type="application/json"):
        data = json.dumps(body) if content_type == "application/json" and not isinstance(body, str | bytes) else body
        return self.client.post(path, data, content_type=content_type, headers=self._headers(headers))

    def patch(self, path, body=None, headers=None):
        return self.client.patch(
            path, json.dumps(body), content_type="application/json", headers=self._headers(headers)
        )

    def upload(self, name: str, content: bytes, headers=None, path=LEGACY_UPLOAD, field="file"):
        """An upload, by default through the deprecated path the older tests were written for."""
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(path, {field: SimpleUploadedFile(name, content)}, headers=self._headers(headers))

    def upload_v1(self, name: str, content: bytes, headers=None):
        return self.upload(name, content, headers, path=UPLOAD, field="uploadFile")

    def delete(self, path, headers=None):
        return self.client.delete(path, headers=self._headers(headers))


def error_props(response) -> dict[str, list[str]]:
    """{errorCode: [property, ...]} of an error response, checking its array format on the way."""
    body = response.json()
    assert isinstance(body, list) and body
    result = {}
    for entry in body:
        assert set(entry) == ERROR_KEYS
        assert all(set(info) <= ERROR_INFO_KEYS for info in entry["additionalInfo"])
        assert entry["correlationId"] == response["X-Correlation-ID"]
        result[entry["errorCode"]] = [info["property"] for info in entry["additionalInfo"]]
    return result


def media_in(settings, folder) -> None:
    """Store uploads of this test under `folder` instead of var/uploads."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(folder)}},
    }


class StrictErrorKeys:
    """Test middleware: every error the API answers is an array of entries with only the upstream's keys.

    Installed for every test (tests/conftest.py), so each scenario of the suite is checked.
    """

    checked = 0

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIXES) and response.status_code >= 400:
            assert response["Content-Type"].startswith("application/json"), (request.path, response["Content-Type"])
            body = json.loads(response.content)
            assert isinstance(body, list) and body, body
            for entry in body:
                assert set(entry) == ERROR_KEYS, entry
                assert all(isinstance(entry[key], str) for key in ERROR_KEYS - {"additionalInfo"}), entry
                assert entry["correlationId"] == correlation.get() != "", entry
                for info in entry["additionalInfo"]:
                    assert {"property", "reason"} <= set(info) <= ERROR_INFO_KEYS, info
                    assert all(isinstance(value, str) for value in info.values()), info
            StrictErrorKeys.checked += 1
        return response


def add_order_copies(template, n: int) -> None:
    """`n` copies of an order with its cages, visitors and contacts: 500 creates through the API would be slow."""
    source = Order.objects.get(pk=template.pk)
    for _ in range(n):
        clone = copy.copy(source)
        clone.pk = None
        clone.order_id = Order._meta.get_field("order_id").default()
        clone.submission_key = Order._meta.get_field("submission_key").default()
        clone.save()
        for part in list(source.cages.all()) + list(source.visitors.all()) + list(source.contacts.all()):
            part.pk, part.order = None, clone
            part.save()
