"""The customer pages."""

urlpatterns: list = []
