# One image for web (gunicorn), worker, beat and flower; docker-compose.yml runs them.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDIA_ROOT=/data/uploads \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app
RUN groupadd --system portal && useradd --system --gid portal --home-dir /app --shell /usr/sbin/nologin portal

# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN pip install --no-compile .

COPY manage.py ./
COPY portal ./portal
COPY workvisits ./workvisits
COPY templates ./templates
COPY static ./static

# Static files are collected at build time with a throw-away key (never used at run time).
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput \
    && rm -rf /app/var \
    && mkdir -p /data/uploads /app/var \
    && chown -R portal:portal /data/uploads /app/var

USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", \
     "--access-logfile", "-", "--forwarded-allow-ips", "*"]
