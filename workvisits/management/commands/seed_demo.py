"""Idempotent demo data: two customer organizations, two IBXs, and a user for every role."""

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from workvisits.models import IBX, Account, Cabinet, Cage, OrderingGrant, Organization, User
from workvisits.roles import ensure_staff_roles

IBXS = [
    ("DC2", "Ashburn DC2", "America/New_York"),
    ("AM1", "Amsterdam AM1", "Europe/Amsterdam"),
]
# organization -> accounts (number, name, credit hold, PO-bearing) and cages (id, ibx, account numbers, cabinets)
CATALOGUE = {
    "Acme Corp": {
        "accounts": [
            ("1234567890", "Acme Ashburn", False, False),
            ("1234567891", "Acme Ashburn projects", False, True),
            ("2000000001", "Acme Amsterdam", False, False),
            ("2000000002", "Acme Amsterdam lab", True, False),
        ],
        "cages": [
            (
                "DC2:01:123456",
                "DC2",
                ["1234567890"],
                [("DC2:01:123456:0101", "1234567890"), ("DC2:01:123456:0102", "1234567890")],
            ),
            ("DC2:01:123457", "DC2", ["1234567890", "1234567891"], [("DC2:01:123457:0201", "1234567891")]),
            ("AM1:02:200100", "AM1", ["2000000001"], [("AM1:02:200100:0001", "2000000001")]),
            ("AM1:02:200101", "AM1", ["2000000002"], [("AM1:02:200101:0001", "2000000002")]),
        ],
    },
    "Globex Inc": {
        "accounts": [("3000000001", "Globex Ashburn", False, False)],
        "cages": [("DC2:02:300300", "DC2", ["3000000001"], [("DC2:02:300300:0101", "3000000001")])],
    },
}
# username, password, organization, first, last, email, role
USERS = [
    ("orderer", "orderer-demo-pass", "Acme Corp", "Olivia", "Orderer", "orderer@acme.example", "orderer"),
    ("viewer", "viewer-demo-pass", "Acme Corp", "Victor", "Viewer", "viewer@acme.example", "viewer"),
    ("technician", "technician-demo-pass", "Acme Corp", "Tess", "Technician", "tess@acme.example", "member"),
    ("reviewer", "reviewer-demo-pass", None, "Rita", "Reviewer", "reviewer@dc.example", "reviewer"),
    ("operator", "operator-demo-pass", None, "Oscar", "Operator", "operator@dc.example", "operator"),
    ("admin", "admin-demo-pass", None, "Ada", "Admin", "admin@dc.example", "superuser"),
    ("globex", "globex-demo-pass", "Globex Inc", "Gary", "Globex", "gary@globex.example", "orderer"),
]
# The demo users the sandbox upstream knows, by their username there; the others are sent by name and email.
UPSTREAM_USERNAMES = {"orderer": "acme_orderer", "technician": "acme_technician"}


class Command(BaseCommand):
    help = "Create the demo organizations, locations and users (running it again changes nothing)."

    @transaction.atomic
    def handle(self, *args, **options):
        ensure_staff_roles()
        ibxs = {}
        for code, name, zone in IBXS:
            ibxs[code], _ = IBX.objects.get_or_create(code=code, defaults={"name": name, "timezone": zone})
        orgs = {}
        for org_name, catalogue in CATALOGUE.items():
            org, _ = Organization.objects.get_or_create(name=org_name)
            orgs[org_name] = org
            accounts = {}
            for number, name, hold, po in catalogue["accounts"]:
                accounts[number], _ = Account.objects.get_or_create(
                    number=number,
                    defaults={"name": name, "organization": org, "is_credit_hold": hold, "is_po_bearing": po},
                )
            for cage_id, ibx_code, numbers, cabinets in catalogue["cages"]:
                cage, _ = Cage.objects.get_or_create(
                    cage_id=cage_id, defaults={"ibx": ibxs[ibx_code], "organization": org}
                )
                cage.accounts.add(*(accounts[n] for n in numbers))
                for cabinet_id, number in cabinets:
                    Cabinet.objects.get_or_create(
                        cabinet_id=cabinet_id, defaults={"cage": cage, "account": accounts[number]}
                    )

        view_all = Permission.objects.get(codename="view_organization_orders", content_type__app_label="workvisits")
        manage_hooks = Permission.objects.get(codename="manage_org_webhooks", content_type__app_label="workvisits")
        self.stdout.write("Demo users (username / password):")
        for username, password, org_name, first, last, email, role in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(
                    username=username, first_name=first, last_name=last, email=email, organization=orgs.get(org_name)
                )
                user.set_password(password)
                user.is_staff = role in ("reviewer", "operator", "superuser")
                user.is_superuser = role == "superuser"
                user.save()
            upstream_username = UPSTREAM_USERNAMES.get(username)
            # Only filled in when empty (a name an operator set is kept) and when nobody holds it yet.
            if (
                upstream_username
                and not user.upstream_username
                and not User.objects.filter(upstream_username=upstream_username).exists()
            ):
                user.upstream_username = upstream_username
                User.objects.filter(pk=user.pk).update(upstream_username=upstream_username)
            if role == "orderer":
                org_ibxs = {
                    cage.ibx for cage in Cage.objects.filter(organization=user.organization).select_related("ibx")
                }
                for ibx in org_ibxs:
                    if user.organization.name == "Acme Corp" and ibx.code == "AM1":
                        # Acme's orderer is granted Amsterdam cage by cage, Ashburn as a whole IBX.
                        for cage in Cage.objects.filter(organization=user.organization, ibx=ibx):
                            OrderingGrant.objects.get_or_create(user=user, cage=cage)
                    elif user.organization.name == "Acme Corp":
                        OrderingGrant.objects.get_or_create(user=user, ibx=ibx)
                    else:
                        for cage in Cage.objects.filter(organization=user.organization, ibx=ibx):
                            OrderingGrant.objects.get_or_create(user=user, cage=cage)
            if role in ("orderer", "viewer"):
                user.user_permissions.add(view_all)
            if role == "orderer":
                user.user_permissions.add(manage_hooks)
            if role == "reviewer":
                user.groups.add(Group.objects.get(name="Reviewers"))
            if role == "operator":
                user.groups.add(Group.objects.get(name="Operators"))
            self.stdout.write(f"  {username:<11} {password:<22} {role}{' of ' + org_name if org_name else ''}")
