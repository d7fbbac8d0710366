# The save-playbooks image: `saves worker`, `saves api` and `saves db upgrade` all run from it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY playbook_defs ./playbook_defs
RUN pip install . && useradd --system --home /app saves && mkdir -p /data && chown saves /data
USER saves
ENV SAVES_DATA_DIR=/data
CMD ["saves", "worker"]
