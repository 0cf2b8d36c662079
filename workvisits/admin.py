"""The reviewers' and operators' admin."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import IBX, Account, Cabinet, Cage, Order, OrderingGrant, Organization, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, ("Organization", {"fields": ("organization", "phone", "timezone")}))
    list_display = ("username", "email", "organization", "is_staff")
    list_filter = ("organization", "is_staff", "groups")
    list_select_related = ("organization",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "review_mode")
    search_fields = ("name",)


@admin.register(IBX)
class IBXAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "timezone", "active")


@admin.register(Cage)
class CageAdmin(admin.ModelAdmin):
    list_display = ("cage_id", "ibx", "organization", "cage_type", "active")
    list_filter = ("ibx", "organization", "active")
    list_select_related = ("ibx", "organization")
    search_fields = ("cage_id",)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "organization", "is_credit_hold", "is_po_bearing")
    list_select_related = ("organization",)
    search_fields = ("number", "name")


@admin.register(Cabinet)
class CabinetAdmin(admin.ModelAdmin):
    list_display = ("cabinet_id", "cage", "account", "active")
    list_select_related = ("cage", "account")
    search_fields = ("cabinet_id",)


@admin.register(OrderingGrant)
class OrderingGrantAdmin(admin.ModelAdmin):
    list_display = ("user", "cage", "ibx", "created_at")
    list_select_related = ("user", "cage", "ibx")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_id", "organization", "ibx", "status", "upstream_order_id", "created_at")
    list_select_related = ("organization", "ibx")
    list_filter = ("status", "ibx")
    search_fields = ("order_id", "customer_reference_id")
