"""Step 1: the IBX, cages and cabinets of the visit."""

from __future__ import annotations

import re

from django import forms

from ... import rules
from ..messages import Names
from .common import StepForm, apply_rule_errors, split_path


def cage_key(cage_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", cage_id)


class LocationForm(StepForm):
    step_title = "Location"
    ibx = forms.ChoiceField(label="IBX (data centre)")
    cages = forms.MultipleChoiceField(label="Cages to visit", required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.locations = list(locations)
        self.fields["ibx"].choices = [("", "Choose an IBX…")] + [
            (ibx.code, f"{ibx.code} · {ibx.name}") for ibx in self.locations
        ]
        self.cage_rows = {}  # cage_id -> (cage, ibx)
        cage_choices = []
        for ibx in self.locations:
            for cage in ibx.orderable_cages:
                key = cage_key(cage.cage_id)
                self.cage_rows[cage.cage_id] = (cage, ibx)
                cage_choices.append((cage.cage_id, cage.cage_id))
                accounts = cage.orderable_accounts
                self.fields[f"account_{key}"] = forms.ChoiceField(
                    label=f"Account for cage {cage.cage_id}",
                    required=False,
                    choices=([] if len(accounts) == 1 else [("", "Choose an account…")])
                    + [(a.number, self.account_label(a)) for a in accounts],
                )
                self.fields[f"cabinet_{key}"] = forms.ChoiceField(
                    label=f"Cabinet in cage {cage.cage_id} (optional)",
                    required=False,
                    choices=[("", "No specific cabinet")]
                    + [(c.cabinet_id, c.cabinet_id) for a in accounts for c in a.cage_cabinets],
                )
        self.fields["cages"].choices = cage_choices
        if len(self.locations) == 1 and not self.is_bound:
            self.initial.setdefault("ibx", self.locations[0].code)

    @staticmethod
    def account_label(account) -> str:
        label = f"{account.number} · {account.name}"
        if account.is_credit_hold:
            label += " — on credit hold, cannot order"
        elif account.is_po_bearing:
            label += " — needs a purchase order"
        return label

    def selected_ibx(self):
        code = self.data.get(self.add_prefix("ibx")) if self.is_bound else self.initial.get("ibx")
        return next((ibx for ibx in self.locations if ibx.code == code), None)

    def rows_for(self, ibx):
        """The cage rows of one IBX for the template: cage, its checkbox state and its two selects."""
        if ibx is None:
            return []
        selected = set(self.data.getlist(self.add_prefix("cages")) if self.is_bound else self.initial.get("cages", []))
        rows = []
        for cage in ibx.orderable_cages:
            key = cage_key(cage.cage_id)
            account_field = self[f"account_{key}"]
            account_value = account_field.value() or (
                cage.orderable_accounts[0].number if len(cage.orderable_accounts) == 1 else ""
            )
            cabinets = [c for a in cage.orderable_accounts if a.number == account_value for c in a.cage_cabinets]
            rows.append(
                {
                    "cage": cage,
                    "key": key,
                    "checked": cage.cage_id in selected,
                    "account": account_field,
                    "account_value": account_value,
                    "accounts": cage.orderable_accounts,
                    "cabinet": self[f"cabinet_{key}"],
                    "cabinets": cabinets,
                }
            )
        return rows

    def clean(self):
        cleaned = super().clean()
        ibx = cleaned.get("ibx")
        if not ibx:
            return cleaned
        raw = []
        for cage_id in cleaned.get("cages") or []:
            cage, cage_ibx = self.cage_rows[cage_id]
            if cage_ibx.code != ibx:
                self.add_error("cages", f"Cage {cage_id} is in {cage_ibx.code}, not {ibx}; untick it or change IBX.")
                continue
            key = cage_key(cage_id)
            item = {"id": cage_id}
            if cleaned.get(f"account_{key}"):
                item["accountNumber"] = cleaned[f"account_{key}"]
            if cleaned.get(f"cabinet_{key}"):
                item["cabinetId"] = cleaned[f"cabinet_{key}"]
            raw.append(item)
        self.raw_cages = raw
        errors, self.clean_cages = rules.cages_errors_and_clean(raw, self.ctx)
        apply_rule_errors(self, errors, self.field_for, Names(cages=[c["id"] for c in raw]))
        return cleaned

    def field_for(self, path):
        index, sub = split_path(path, "details.cages")
        if index is None:
            return "cages" if path.startswith("details.cages") else None
        if index >= len(getattr(self, "raw_cages", [])):
            return "cages"
        key = cage_key(self.raw_cages[index]["id"])
        return {"accountNumber": f"account_{key}", "cabinetId": f"cabinet_{key}"}.get(sub.split(".")[0], "cages")

    def body(self):
        return {"details": {"cages": self.raw_cages}}

    # Facts the later steps need.
    def ibx_object(self):
        return next(ibx for ibx in self.locations if ibx.code == self.cleaned_data["ibx"])

    def po_bearing_accounts(self) -> list[str]:
        """Accounts of the chosen cages that need a purchase order (step 5 asks for one)."""
        return sorted(
            {
                c.account_number
                for c in self.clean_cages
                if self.ctx.cages[c.cage_id].accounts[c.account_number].is_po_bearing
            }
        )
