"""The web process's collector setting (portal/collector.py): once the WSGI application is loaded, what
loading made (the views, the admin, the URL patterns) is out of the cyclic collector's reach, so a full
collection during a request walks only what requests made; the collector still frees new garbage. Each
case loads the application in a fresh interpreter, as gunicorn's worker does."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, sys
import portal.wsgi
frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
cycle = []
cycle.append(cycle)
del cycle
print(json.dumps({
    "frozen": frozen,
    "tracked": tracked,
    "enabled": gc.isenabled(),
    "views_loaded": "workvisits.web.views" in sys.modules and "workvisits.admin.orders" in sys.modules,
    "new_cycle_collected": gc.collect() >= 1,
}))
"""


def _load(setting: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "GC_FREEZE_AFTER_LOAD": setting}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_the_application_freezes_what_it_loaded():
    loaded = _load("true")
    assert loaded["views_loaded"]  # frozen after the URLconf imported every view and the admin
    assert loaded["frozen"] > 50_000
    assert loaded["tracked"] < loaded["frozen"] / 5  # what a full collection still walks
    assert loaded["enabled"] and loaded["new_cycle_collected"]


def test_the_setting_off_leaves_the_collector_as_python_sets_it():
    loaded = _load("false")
    assert loaded["frozen"] == 0
    assert loaded["tracked"] > 50_000
    assert loaded["enabled"] and loaded["new_cycle_collected"]
