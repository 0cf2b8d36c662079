"""The cyclic garbage collector, set for a long-running server process.

Django's request is a reference cycle (its lazy user refers back to it), and so is a template's
render context, so whatever a page hangs on them (its orders and their parts) is freed by the
collector, not by reference counting. A full collection also walks every object the process made
while starting (modules, models, URL patterns, the admin): about 150,000 objects, up to 100 ms on a
page (docs/performance.md, "Garbage collector"). Once the application is loaded, `settle()` moves
those objects into the collector's permanent generation (`gc.freeze`), which later collections skip.
"""

import gc

from django.conf import settings
from django.urls import reverse


def settle() -> None:
    """After loading: import the URLconf (the views, the admin and what they import), collect what
    loading left, and freeze the rest (GC_FREEZE_AFTER_LOAD)."""
    if not settings.GC_FREEZE_AFTER_LOAD:
        return
    reverse("healthz")  # loads the URLconf: every view module and what it imports
    gc.collect()
    gc.freeze()
