"""Bearer-token authentication of the JSON API: a call acts as the client's user."""

from rest_framework import authentication, exceptions, permissions

from .. import selectors


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <access_token>` with a token from POST /oauth2/v1/token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise exceptions.AuthenticationFailed("Send the access token as 'Authorization: Bearer <access_token>'.")
        user = selectors.api_token_for_bearer(token)
        if user is None:
            raise exceptions.AuthenticationFailed(
                "The access token is unknown, expired or revoked; get a new one from POST /oauth2/v1/token."
            )
        return user, user.bearer_token_id

    def authenticate_header(self, request):
        return 'Bearer realm="work-visits"'


class HasToken(permissions.BasePermission):
    """Every operation except the token endpoint and the documents needs a valid token."""

    message = "Authentication is required: send 'Authorization: Bearer <access_token>'."

    def has_permission(self, request, view):
        return request.user is not None and request.user.is_authenticated
