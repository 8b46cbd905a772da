# One image for every Remedy process: `remedy worker`, `remedy bridge`, `remedy codec-server`.
# No secret is built in (.dockerignore drops .env): at run time each service gets its own as
# compose secrets, files under /run/secrets read through REMEDY_*_FILE (docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md worker.py ./
COPY workflows ./workflows
COPY activities ./activities
COPY bridge ./bridge
COPY remedy ./remedy
RUN pip install --no-compile . \
 && useradd --system --uid 10001 --home-dir /var/lib/remedy --create-home remedy

USER remedy
EXPOSE 8787 8788
CMD ["remedy", "--help"]
