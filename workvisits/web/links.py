"""URLs reversed once per process: Django's reverse() for names that the pages and the middleware ask on
every request.

A URL is a function of the URLconf, the script prefix and the arguments, all three in the key; reverse()
costs about as much as a page's SQL for the thirty links of a list page (docs/performance.md, "Scale")."""

from __future__ import annotations

import functools

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

# URLs a process keeps (the least recently used leave first).
URLS_KEPT = 4096


def url(view_name: str, *args, **kwargs) -> str:
    """reverse(view_name, args=args, kwargs=kwargs), from this process's memory after the first time."""
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    try:
        return _reversed(view_name, args, tuple(sorted(kwargs.items())), get_script_prefix(), urlconf)
    except TypeError:  # an argument that cannot be a key
        return reverse(view_name, args=args or None, kwargs=kwargs or None)


@functools.lru_cache(maxsize=URLS_KEPT)
def _reversed(view_name: str, args: tuple, kwargs: tuple, script_prefix: str, urlconf: str) -> str:
    return reverse(view_name, urlconf=urlconf, args=args or None, kwargs=dict(kwargs) or None)
