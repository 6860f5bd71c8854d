# livecart worker / dashboard image: `docker compose up --build` uses it for both services.
# Only the packaged code goes in (pyproject's packages: streams, models, export); tests, scripts, caches and
# virtualenvs stay out of the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/livecart
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY models ./models
COPY export ./export
RUN pip install . \
    && useradd --create-home --uid 10001 livecart

# Faust keeps its local table state in ./<app id>-data: run from a folder the unprivileged user owns.
USER livecart
WORKDIR /home/livecart

# faust worker web port (LIVECART_WEB_PORT) and the dashboard (LIVECART_DASHBOARD_PORT).
EXPOSE 6066 8080
CMD ["faust", "-A", "streams.app", "worker", "-l", "info"]
