# The hub's own image: `hub worker`, `hub gateway`, `hub dashboard` and the one-shot init jobs
# (`hub topics create`, `hub acls apply`, deploy/registry_import.py) all run from it.
#
#   docker build -t nrm-hub:0.1.0 .        (the tag is the version in pyproject.toml)
#
# Only what the hub needs is copied: the code and the Avro contracts (schemas/). No tests, no
# benchmarks, no .venv, no deploy/secrets/, and no configuration at all: the agency directory,
# the policies and the ACL file are the operator's and are mounted at /etc/nrm-hub (a missing
# mount fails at start instead of silently running the demo directory, whose private keys are
# public). docs/DEPLOYMENT.md has the run-time layout.

FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY agents ./agents
COPY connectors ./connectors
# Dependencies are pinned in pyproject.toml; `pip install .` builds a regular (non-editable)
# install, so nothing below imports from /src at run time.
RUN pip install . && rm -rf /src

RUN groupadd --system --gid 10001 nrm \
    && useradd --system --uid 10001 --gid nrm --home-dir /app --shell /usr/sbin/nologin nrm \
    && mkdir -p /app/deploy /etc/nrm-hub/config /var/lib/nrm-hub \
    && chown nrm:nrm /var/lib/nrm-hub

WORKDIR /app
COPY schemas ./schemas
COPY deploy/registry_import.py ./deploy/registry_import.py

# A non-editable install resolves PROJECT_ROOT inside site-packages: point the settings at the
# copied contracts, at the configuration mount and at a data folder the hub's user owns. The
# signing key has no usable default in the image: HUB_SIGNING_KEY_PATH names a mounted secret.
ENV HUB_SCHEMAS_DIR=/app/schemas \
    HUB_CONFIG_DIR=/etc/nrm-hub/config \
    HUB_DATA_DIR=/var/lib/nrm-hub \
    HUB_SIGNING_KEY_PATH=/run/secrets/hub_signing_key \
    HUB_LOG_JSON=true

USER nrm:nrm
CMD ["hub", "--help"]
