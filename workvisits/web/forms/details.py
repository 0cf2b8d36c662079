"""Step 5: description, customer reference, purchase order and attachments."""

from __future__ import annotations

from django import forms

from ... import rules
from ...choices import PurchaseOrderType
from ..messages import Names
from .common import StepForm, apply_rule_errors


class IdListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        return [str(v) for v in value or [] if str(v).strip()]


# Which purchase-order fields each type asks for.
PO_FIELDS = {
    PurchaseOrderType.EXEMPTED: (),
    PurchaseOrderType.NEW: ("po_amount", "po_start_date", "po_end_date"),
    PurchaseOrderType.EXISTING: ("po_number", "po_amount", "po_start_date", "po_end_date"),
}
PO_KEYS = {"po_number": "number", "po_amount": "amount", "po_start_date": "startDate", "po_end_date": "endDate"}


class DetailsForm(StepForm):
    step_title = "Details"
    description = forms.CharField(
        label="Description of the work (optional)",
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "maxlength": rules.DESCRIPTION_MAX,
                "data-counter": "description-count",
                "data-min": rules.DESCRIPTION_MIN,
                "data-max": rules.DESCRIPTION_MAX,
            }
        ),
        required=False,
        help_text=(
            f"What the visitors will do. You may leave it empty; if you write one, use {rules.DESCRIPTION_MIN} "
            f"to {rules.DESCRIPTION_MAX} characters."
        ),
    )
    customer_reference = forms.CharField(
        label="Your reference (optional)",
        required=False,
        widget=forms.TextInput(attrs={"maxlength": rules.CUSTOMER_REFERENCE_MAX}),
        help_text=f"Your own ticket or order number, up to {rules.CUSTOMER_REFERENCE_MAX} characters.",
    )
    po_type = forms.ChoiceField(
        label="Purchase order", required=False, choices=[("", "No purchase order"), *PurchaseOrderType.choices]
    )
    po_number = forms.CharField(label="Purchase order number", required=False, max_length=rules.PO_NUMBER_MAX)
    po_amount = forms.CharField(
        label="Amount",
        required=False,
        max_length=rules.PO_AMOUNT_MAX,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text="A number such as 1250.50, without a currency.",
    )
    po_start_date = forms.CharField(label="Valid from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    po_end_date = forms.CharField(label="Valid until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    attachments = IdListField(label="Attachments", required=False)

    def __init__(self, *args, po_bearing=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.po_bearing = list(po_bearing)
        if self.po_bearing:
            # The account refuses an exemption, so it is not offered.
            needs = f"Account {', '.join(self.po_bearing)} needs a purchase order: choose New or Existing."
            field = self.fields["po_type"]
            field.choices = [
                ("", "Choose…"),
                *[c for c in PurchaseOrderType.choices if c[0] != PurchaseOrderType.EXEMPTED],
            ]
            field.help_text = needs
            field.error_messages["invalid_choice"] = needs

    def clean(self):
        cleaned = super().clean()
        errors, _ = rules.description_errors_and_clean(cleaned.get("description", ""))
        reference = (cleaned.get("customer_reference") or "").strip()
        errors += rules.customer_reference_errors_and_clean(reference or None)[0]
        po = None
        if cleaned.get("po_type"):
            po = {"type": cleaned["po_type"]}
            for name in PO_FIELDS.get(cleaned["po_type"], ()):
                if (cleaned.get(name) or "").strip():
                    po[PO_KEYS[name]] = cleaned[name].strip()
        self.raw_po = po
        errors += rules.purchase_order_errors_and_clean(po, self.po_bearing, self.ctx)[0]
        self.raw_attachments = [{"id": a} for a in cleaned.get("attachments") or []]
        errors += rules.attachments_errors_and_clean(self.raw_attachments, self.ctx)[0]
        apply_rule_errors(self, errors, self.field_for, Names(attachments=self.attachment_names()))
        return cleaned

    def attachment_names(self) -> list[str]:
        known = self.ctx.attachments if self.ctx else {}
        return [known[a["id"]].name if a["id"] in known else "" for a in self.raw_attachments]

    def field_for(self, path):
        if path == "description":
            return "description"
        if path == "customerReferenceId":
            return "customer_reference"
        if path.startswith("attachments"):
            return "attachments"
        if path.startswith("purchaseOrder"):
            sub = path[len("purchaseOrder") :].lstrip(".")
            return {v: k for k, v in PO_KEYS.items()}.get(sub, "po_type")
        return None

    def body(self):
        body = {"description": self.cleaned_data["description"].strip()}
        if (self.cleaned_data.get("customer_reference") or "").strip():
            body["customerReferenceId"] = self.cleaned_data["customer_reference"].strip()
        if self.raw_po:
            body["purchaseOrder"] = self.raw_po
        if self.raw_attachments:
            body["attachments"] = self.raw_attachments
        return body
