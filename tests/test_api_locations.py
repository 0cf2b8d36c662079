"""Locations: Lookup v2 at /colocations/v2/locations and the v1 body at /v1/orders/workvisit/locations,
both only where the caller may order."""

from tests.api_support import Api, error_props
from workvisits.models import Cage, OrderingGrant

V1 = "/v1/orders/workvisit/locations"
V2 = "/colocations/v2/locations"


def test_the_orderer_gets_the_v1_shape_with_accounts_and_cabinets(orderer):
    response = Api(orderer).get(V1)
    assert response.status_code == 200
    locations = response.json()["locations"]
    assert [loc["ibx"] for loc in locations] == ["AM1", "DC2"]
    dc2 = {cage["cage"]: cage for cage in locations[1]["cages"]}
    assert set(dc2) == {"DC2:01:123456", "DC2:01:123457"}
    cage = dc2["DC2:01:123456"]
    assert cage["cageTypes"] == ["CAGE"]
    assert cage["accounts"] == [
        {
            "number": "1234567890",
            "name": "Acme Ashburn",
            "isCreditHold": False,
            "isPOBearing": False,
            "cabinets": [
                {"cabinet": "DC2:01:123456:0101", "cabinetType": "CABINET"},
                {"cabinet": "DC2:01:123456:0102", "cabinetType": "CABINET"},
            ],
        }
    ]
    po_account = next(a for a in dc2["DC2:01:123457"]["accounts"] if a["number"] == "1234567891")
    assert po_account["isPOBearing"] is True
    am1 = {cage["cage"]: cage for cage in locations[0]["cages"]}
    assert am1["AM1:02:200101"]["accounts"][0]["isCreditHold"] is True


def test_only_cages_the_caller_may_order_for(users, globex):
    assert Api(users["viewer"]).get(V1).json() == {"locations": []}
    assert Api(users["viewer"]).get(V2, {"permissionCode": "WORK_VISIT"}).json() == {"crossConnects": []}
    globex_view = Api(globex).get(V1).json()["locations"]
    assert [(loc["ibx"], [c["cage"] for c in loc["cages"]]) for loc in globex_view] == [("DC2", ["DC2:02:300300"])]

    OrderingGrant.objects.create(user=users["technician"], cage=Cage.objects.get(cage_id="AM1:02:200100"))
    tech_view = Api(users["technician"]).get(V1).json()["locations"]
    assert [(loc["ibx"], [c["cage"] for c in loc["cages"]]) for loc in tech_view] == [("AM1", ["AM1:02:200100"])]
    tech_v2 = Api(users["technician"]).get(V2).json()["crossConnects"]
    assert [(loc["ibx"], sorted({c["id"] for c in loc["cages"]})) for loc in tech_v2] == [("AM1", ["AM1:02:200100"])]


def test_lookup_v2_lists_each_cage_then_its_cabinets_and_the_accounts_with_allow_order(orderer):
    response = Api(orderer).get(V2, {"permissionCode": "WORK_VISIT"})
    assert response.status_code == 200
    locations = {loc["ibx"]: loc for loc in response.json()["crossConnects"]}
    assert list(locations) == ["AM1", "DC2"]
    dc2 = locations["DC2"]
    assert (dc2["accessRestricted"], dc2["specialPrivilege"]) == (False, False)
    assert [c for c in dc2["cages"] if c["id"] == "DC2:01:123456"] == [
        {"id": "DC2:01:123456", "type": "CAGE", "accountNumbers": ["1234567890"]},
        {
            "id": "DC2:01:123456",
            "type": "CAGE",
            "accountNumbers": ["1234567890"],
            "cabinetId": "DC2:01:123456:0101",
            "cabinetType": "CABINET",
        },
        {
            "id": "DC2:01:123456",
            "type": "CAGE",
            "accountNumbers": ["1234567890"],
            "cabinetId": "DC2:01:123456:0102",
            "cabinetType": "CABINET",
        },
    ]
    assert {"accountNumber": "1234567891", "accountName": "Acme Ashburn projects", "allowOrder": True} in dc2[
        "accounts"
    ]
    on_hold = [a for a in locations["AM1"]["accounts"] if not a["allowOrder"]]
    assert [a["accountNumber"] for a in on_hold] == [
        next(c for c in locations["AM1"]["cages"] if c["id"] == "AM1:02:200101")["accountNumbers"][0]
    ]


def test_both_narrow_by_ibx_and_v1_by_cage(orderer):
    api = Api(orderer)
    assert [loc["ibx"] for loc in api.get(V2, {"ibxs": "dc2"}).json()["crossConnects"]] == ["DC2"]
    assert [loc["ibx"] for loc in api.get(V1, {"ibxs": "AM1,DC2"}).json()["locations"]] == ["AM1", "DC2"]
    only = api.get(V1, {"cages": "DC2:01:123457", "detail": "true"}).json()["locations"]
    assert [(loc["ibx"], [c["cage"] for c in loc["cages"]]) for loc in only] == [("DC2", ["DC2:01:123457"])]


def test_an_unknown_permission_code_is_400(orderer):
    response = Api(orderer).get(V2, {"permissionCode": "SECURITY_ACCESS"})
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["permissionCode"]}
