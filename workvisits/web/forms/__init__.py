"""The forms of the customer pages, one module per wizard step and one for the order page. Every check is the
rules module's; each step writes its part of the create body (`body()`) and maps a rule's JSON path back onto
its field (`field_for(path)`), so a rule broken at the last moment is shown at the field that caused it."""

from .common import StepForm, apply_rule_errors, split_path
from .contacts import ContactsForm
from .details import DetailsForm
from .location import LocationForm, cage_key
from .order_page import CancelForm, NotificationContactForm, OrderFilterForm, RescheduleForm
from .review import ReviewForm
from .schedule import ScheduleForm
from .visitors import VisitorFormSet

__all__ = [
    "CancelForm",
    "ContactsForm",
    "DetailsForm",
    "LocationForm",
    "NotificationContactForm",
    "OrderFilterForm",
    "RescheduleForm",
    "ReviewForm",
    "ScheduleForm",
    "StepForm",
    "VisitorFormSet",
    "apply_rule_errors",
    "cage_key",
    "split_path",
]
