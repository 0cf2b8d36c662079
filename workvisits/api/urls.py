"""The Work Visits v2 compatible JSON API."""

urlpatterns: list = []
