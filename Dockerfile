# itam-graph API image. Build context is the repository root (see .dockerignore).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin itam

WORKDIR /src
COPY pyproject.toml README.md ./
COPY graph ./graph
COPY ingest ./ingest
COPY queries ./queries
COPY api ./api
COPY demo ./demo
RUN pip install --no-cache-dir . && rm -rf /src

USER itam
WORKDIR /home/itam
# Local state (never the Neo4j store, which lives in the neo4j service) stays in the user's home.
ENV ITAM_HOME=/home/itam/.itam

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["itam", "serve", "--host", "0.0.0.0", "--port", "8000"]
