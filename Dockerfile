# syntax=docker/dockerfile:1
# Mon Espace, production image: granian on port 8000 (`monespace serve`: the checks at start,
# then granian under monespace/server_config.py), configuration from the environment.
#
#   docker build -t monespace .
#   docker run --rm -e MONESPACE_DATABASE_URL=... -e MONESPACE_SECRET_KEY=... \
#       -e MONESPACE_AUDIT_KEY=... -e MONESPACE_BASE_URL=https://... monespace monespace db upgrade
#   docker run -d -p 8000:8000 -e ... monespace

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MONESPACE_MODE=production \
    MONESPACE_DATA_DIR=/var/lib/monespace
# The metrics of granian's workers, added up by whichever answers /metrics (emptied by
# `monespace serve` at start).
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/monespace-metrics

# The eID login's XML signatures are checked in process by the xmlsec binding, whose wheel
# (constraints.txt) bundles libxmlsec1 and libxml2: no system package for it. The xmlsec1
# program stays, as the other backend (MONESPACE_EID_CRYPTO_BACKEND=xmlsec1) and the fallback
# where the binding does not import.
# psycopg2-binary ships its own libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends xmlsec1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 monespace \
    && useradd --system --uid 10001 --gid monespace --create-home \
        --home-dir /home/monespace --shell /usr/sbin/nologin monespace \
    && install -d -o monespace -g monespace -m 0700 /var/lib/monespace

# The dependencies are installed at the versions of constraints.txt, the ones CI tested,
# the Redis client among them (MONESPACE_RATE_LIMIT_STORAGE=redis://...).
COPY --from=build /wheels /wheels
COPY --from=build /src/constraints.txt /tmp/constraints.txt
RUN pip install --constraint /tmp/constraints.txt /wheels/*.whl \
    && rm -rf /wheels /tmp/constraints.txt

USER monespace
WORKDIR /home/monespace
EXPOSE 8000

# No curl in the slim image: ask /healthz with Python (non-200 or no answer = unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# A command given to `docker run` replaces this one (for example `monespace db upgrade`).
CMD ["monespace", "serve", "--host", "0.0.0.0", "--port", "8000"]
