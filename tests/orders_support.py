"""Orders the page and browser tests start from, placed through the create service."""

from workvisits import services

# A visitor typed in (not a registered user): the pages show and prefill their name and email.
TYPED_VISITOR = {
    "firstName": "Vera",
    "lastName": "Visitor",
    "companyName": "Fixit",
    "details": [{"type": "EMAIL", "value": "vera@fixit.example"}],
}

# A technical contact typed in, reachable by email.
NINA = {
    "type": "TECHNICAL",
    "firstName": "Nina",
    "lastName": "Night",
    "companyName": "Fixit Ltd",
    "details": [{"type": "EMAIL", "value": "nina@fixit.example"}],
    "availability": "ANYTIME",
    "timezone": "Europe/Amsterdam",
}


def order_with_a_typed_visitor(user, make_body, **overrides):
    """An order placed by `user` for the orderer and Vera, typed in."""
    body = make_body(**overrides)
    body["details"]["visitors"] = [{"registeredUsers": ["orderer"]}, TYPED_VISITOR]
    return services.order_create(user=user, data=body)
