"""The locations catalogue (IBXs, cages, accounts, cabinets) and its imports from a CSV file or the upstream."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import locations, queueing, tasks
from ..catalogue import catalogue_changed
from ..models import (
    IBX,
    Account,
    Cabinet,
    Cage,
    LocationSync,
)
from .common import ReadOnlyAdminMixin, organization_filters, pretty_json


class CatalogueAdmin(admin.ModelAdmin):
    """IBXs, cages, accounts and cabinets: each save or delete here gives the cached catalogues a new
    version, in the admin's transaction (every organization's: such edits are rare, and a cage or an
    account can move between organizations)."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # after save_model(), with the m2m and inlines
        catalogue_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalogue_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalogue_changed()


@admin.register(IBX)
class IBXAdmin(CatalogueAdmin):
    list_display = ("code", "name", "timezone", "active", "cage_count")
    list_filter = ("active",)
    search_fields = ("code", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(active_cages=Count("cages", filter=Q(cages__active=True)))

    @admin.display(description="active cages", ordering="active_cages")
    def cage_count(self, obj):
        return obj.active_cages


class CabinetInline(admin.TabularInline):
    model = Cabinet
    extra = 0
    fields = ("cabinet_id", "account", "cabinet_type", "active")
    raw_id_fields = ("account",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(Cage)
class CageAdmin(CatalogueAdmin):
    list_display = ("cage_id", "ibx", "organization", "cage_type", "account_numbers", "active")
    list_filter = ("active", "ibx", *organization_filters())
    list_select_related = ("ibx", "organization")
    search_fields = ("cage_id", "organization__name", "accounts__number")
    filter_horizontal = ("accounts",)
    inlines = [CabinetInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("accounts")

    @admin.display(description="accounts")
    def account_numbers(self, obj):
        return ", ".join(a.number for a in obj.accounts.all())


@admin.register(Account)
class AccountAdmin(CatalogueAdmin):
    list_display = ("number", "name", "organization", "is_credit_hold", "is_po_bearing")
    list_filter = ("is_credit_hold", "is_po_bearing", *organization_filters())
    list_select_related = ("organization",)
    search_fields = ("number", "name", "organization__name")


@admin.register(Cabinet)
class CabinetAdmin(CatalogueAdmin):
    list_display = ("cabinet_id", "cage", "account", "cabinet_type", "active")
    list_filter = ("active", "cage__ibx")
    list_select_related = ("cage", "account")
    search_fields = ("cabinet_id", "cage__cage_id", "account__number")
    raw_id_fields = ("cage", "account")


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        help_text=f"UTF-8 CSV with a header row: {', '.join(locations.CSV_COLUMNS)}. "
        "ibx, cage and account_number are required; one row per cabinet."
    )


@admin.register(LocationSync)
class LocationSyncAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "source", "started_by", "changes", "error_count")
    list_filter = ("source",)
    list_select_related = ("started_by",)
    fields = ("created_at", "source", "started_by", "summary_display", "errors_display")
    readonly_fields = fields
    change_list_template = "admin/workvisits/locationsync/change_list.html"

    @admin.display(description="changes")
    def changes(self, obj):
        return locations.sync_counts(obj)

    @admin.display(description="errors")
    def error_count(self, obj):
        return len(obj.errors)

    @admin.display(description="summary")
    def summary_display(self, obj):
        return pretty_json(obj.summary)

    @admin.display(description="errors")
    def errors_display(self, obj):
        return pretty_json(obj.errors)

    def has_import_permission(self, request):
        return request.user.has_perm("workvisits.add_locationsync")

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="workvisits_locationsync_upload"),
            path("fetch/", self.admin_site.admin_view(self.fetch_view), name="workvisits_locationsync_fetch"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def upload_view(self, request):
        """Import a CSV file now; good rows are applied and each bad row is reported."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                sync = locations.import_locations_csv(data=form.cleaned_data["file"].read(), started_by=request.user)
            except locations.ImportRefused as exc:
                form.add_error("file", str(exc))
            else:
                level = messages.WARNING if sync.errors else messages.SUCCESS
                self.message_user(
                    request, f"CSV imported: {locations.sync_counts(sync)}; {len(sync.errors)} rows refused.", level
                )
                return HttpResponseRedirect(reverse("admin:workvisits_locationsync_change", args=[sync.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import locations from a CSV file",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/workvisits/locationsync/upload.html", context)

    def fetch_view(self, request):
        """Ask a worker to import the upstream's locations now (the beat does it on its own schedule)."""
        if not self.has_import_permission(request) or request.method != "POST":
            raise PermissionDenied
        if queueing.enqueue(tasks.import_locations):
            self.message_user(request, "A worker imports the upstream's locations now; reload in a moment.")
        else:
            self.message_user(request, "The task queue cannot be reached; try again later.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:workvisits_locationsync_changelist"))
