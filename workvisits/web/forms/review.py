"""Step 6: the review page, which asks nothing more."""

from __future__ import annotations

from .common import StepForm


class ReviewForm(StepForm):
    step_title = "Review"
