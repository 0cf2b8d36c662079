"""JSON API credentials: created and revoked here."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from .. import services
from ..models import (
    ApiClient,
)


@admin.register(ApiClient)
class ApiClientAdmin(SimpleHistoryAdmin):
    """JSON API credentials: created here (the secret is shown once, only its hash is kept) and revoked here."""

    list_display = ("client_id", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("client_id", "name", "user__username")
    autocomplete_fields = ("user",)
    actions = ["revoke_clients"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("client_id", "user", "name", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("client_id", "user", "created_at", "last_used_at", "revoked_at")

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays for the audit

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        client, secret = services.api_client_create(user=obj.user, name=obj.name)
        obj.__dict__.update({k: v for k, v in client.__dict__.items() if k != "_state"})
        obj._state.adding = False
        request.api_client_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "API client created",
            "opts": self.model._meta,
            "client": obj,
            "secret": request.api_client_secret,
        }
        response = TemplateResponse(request, "admin/workvisits/apiclient/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected clients and their tokens", permissions=["change"])
    def revoke_clients(self, request, queryset):
        for client in queryset:
            services.api_client_revoke(client=client)
        self.message_user(request, f"Revoked {len(queryset)} client(s); their tokens no longer work.")
