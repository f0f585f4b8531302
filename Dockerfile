# One image for every caretrail process (see docker-compose.yml): the command picks the process.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /srv/caretrail
COPY pyproject.toml README.md ./
COPY caretrail caretrail
COPY domain domain
COPY services services
COPY projections projections
COPY consumers consumers
COPY ingest ingest
COPY api api
RUN pip install --no-cache-dir . \
    && useradd --system --no-create-home caretrail

USER caretrail
ENTRYPOINT ["caretrail"]
