"""GET /colocations/v2/locations: the upstream's shape, only where the caller may order."""

from tests.api_support import Api, error_props
from workvisits.models import Cage, OrderingGrant


def test_the_orderer_gets_the_upstream_shape_with_accounts_and_cabinets(orderer):
    response = Api(orderer).get("/colocations/v2/locations", {"permissionCode": "WORK_VISIT"})
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
    assert Api(users["viewer"]).get("/colocations/v2/locations").json() == {"locations": []}
    globex_view = Api(globex).get("/colocations/v2/locations").json()["locations"]
    assert [(loc["ibx"], [c["cage"] for c in loc["cages"]]) for loc in globex_view] == [("DC2", ["DC2:02:300300"])]

    OrderingGrant.objects.create(user=users["technician"], cage=Cage.objects.get(cage_id="AM1:02:200100"))
    tech_view = Api(users["technician"]).get("/colocations/v2/locations").json()["locations"]
    assert [(loc["ibx"], [c["cage"] for c in loc["cages"]]) for loc in tech_view] == [("AM1", ["AM1:02:200100"])]


def test_an_unknown_permission_code_is_400(orderer):
    response = Api(orderer).get("/colocations/v2/locations", {"permissionCode": "SECURITY_ACCESS"})
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["permissionCode"]}
