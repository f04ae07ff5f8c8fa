# One image for web, workers, beat and migrate (docker-compose.yml picks the command).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY xiachen ./xiachen
COPY communities ./communities
COPY notifications ./notifications
COPY members ./members
COPY activities ./activities
COPY reports ./reports
RUN pip install .
COPY . .
# Build-time values only: the catalogue and the static files need settings to load.
RUN pybabel compile -d locale -D django \
 && DEBUG=false SECRET_KEY=build-only python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 xiachen && mkdir -p /app/var && chown -R xiachen /app/var
USER xiachen
EXPOSE 8000
# Every gunicorn setting is in gunicorn.conf.py (workers, threads, timeouts, the proxy's
# addresses, JSON access log); docker-compose.yml starts the same command.
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
