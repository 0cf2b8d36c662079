"""Signing in and out, the lockout after repeated failures, and password reset by email."""

import re

from django.core import mail
from django.urls import reverse


def test_sign_in_and_out(client, orderer):
    page = client.get(reverse("login")).content.decode()
    assert 'for="id_username"' in page and "Forgotten your password?" in page
    response = client.post(reverse("login"), {"username": "orderer", "password": "orderer-demo-pass"})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.post(reverse("logout")).url == reverse("login")
    assert client.get(reverse("dashboard")).status_code == 302


def test_a_wrong_password_says_so(client, orderer):
    response = client.post(reverse("login"), {"username": "orderer", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_five_failures_lock_the_username_and_address_with_a_clear_message(client, orderer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), {"username": "orderer", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    locked = client.post(reverse("login"), {"username": "orderer", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in is locked" in page and "15 minutes" in page and "reset your password" in page
    # Even the right password is refused while locked, from that address.
    again = client.post(
        reverse("login"), {"username": "orderer", "password": "orderer-demo-pass"}, REMOTE_ADDR="10.1.1.1"
    )
    assert again.status_code == 429
    # Another address is not locked out.
    other = client.post(
        reverse("login"), {"username": "orderer", "password": "orderer-demo-pass"}, REMOTE_ADDR="10.2.2.2"
    )
    assert other.status_code == 302


def test_password_reset_by_email(client, orderer, published_tasks):
    from workvisits import tasks

    response = client.post(reverse("password_reset"), {"email": "orderer@acme.example"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    [(name, args)] = published_tasks  # a worker sends the email
    assert name == "workvisits.send_password_reset"
    tasks.send_password_reset(*args)
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-new-long-pass-2026", "new_password2": "a-new-long-pass-2026"},
    )
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    assert client.post(reverse("login"), {"username": "orderer", "password": "a-new-long-pass-2026"}).status_code == 302


def test_the_pages_use_only_vendored_assets(client, orderer):
    page = client.get(reverse("login")).content.decode()
    assert "/static/vendor/bootstrap/bootstrap.min.css" in page and "/static/vendor/htmx/htmx.min.js" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
