"""Times on the customer pages: in the IBX's zone, the zone named, the UTC time beside it."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workvisits.templatetags.portal import in_zone, status_badge, zone_label


class Ibx:
    def __init__(self, timezone):
        self.timezone = timezone


def test_a_summer_instant_in_amsterdam_is_shown_in_cest_with_utc_beside():
    html = in_zone(datetime(2031, 7, 1, 7, 0, tzinfo=UTC), Ibx("Europe/Amsterdam"))
    assert "Tue 01 Jul 2031, 09:00" in html and ">CEST<" in html and 'title="Europe/Amsterdam"' in html
    assert "(01 Jul 07:00 UTC)" in html and 'datetime="2031-07-01T07:00:00Z"' in html


def test_a_winter_instant_in_new_york_is_shown_in_est_even_across_midnight_utc():
    html = in_zone(datetime(2031, 1, 2, 3, 30, tzinfo=UTC), "America/New_York")
    assert "Wed 01 Jan 2031, 22:30" in html and ">EST<" in html and "(02 Jan 03:30 UTC)" in html


def test_every_day_of_a_leap_year_reads_as_the_calendar_says_in_the_zone_and_in_utc():
    zone = ZoneInfo("Australia/Lord_Howe")  # a half-hour DST change
    for day in range(366):
        instant = datetime(2028, 1, 1, 13, 59, 7, tzinfo=UTC) + timedelta(days=day, minutes=31 * day)
        local, utc = instant.astimezone(zone), instant.astimezone(UTC)
        html = in_zone(instant, "Australia/Lord_Howe")
        assert f">{local.strftime('%a %d %b %Y, %H:%M')}</time>" in html
        assert f">{local.tzname()}</abbr>" in html
        assert f'datetime="{utc.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in html
        assert f"({utc.strftime('%d %b %H:%M')} UTC)" in html


def test_zone_label_names_the_zone_and_its_offset():
    label = zone_label(Ibx("Asia/Kolkata"))
    assert label == "Asia/Kolkata (IST, UTC+05:30)"


def test_status_badge_says_the_status_in_words():
    assert "Waiting for review" in status_badge("PENDING_REVIEW") and 'data-status="PENDING_REVIEW"' in status_badge(
        "PENDING_REVIEW"
    )
