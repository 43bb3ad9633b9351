# Enclave: one image for the API (`enclave serve`), the ingestion workers (`enclave worker`)
# and migrations (`enclave migrate`). Everything, the embedding model included, is installed
# at build time; the running container needs no network. Needs BuildKit (RUN --network).
# Compose file, topology and backups: deploy/README.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=1 \
    UNSTRUCTURED_DISABLE_NOTICE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ENCLAVE_DATA_DIR=/data

# libmagic: content sniffing. tesseract + poppler: OCR of scanned PDFs (else "needs OCR").
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 tesseract-ocr poppler-utils \
    && rm -rf /var/lib/apt/lists/*

# torch first, from the CPU index: PyPI's Linux wheel would pull the CUDA libraries (GBs).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app

# The dependencies alone, in a layer that survives code changes. torch==2.13.0 is already
# met by 2.13.0+cpu. unstructured-inference goes in with --no-deps, as in the Makefile: its
# own pins would pull torch with CUDA; its import-time deps are in pyproject.toml.
COPY client ./client
RUN pip install ./client
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && pip install --no-deps unstructured-inference==1.6.14 \
    && rm /tmp/requirements.txt

COPY tenancy ./tenancy
COPY retrieval ./retrieval
COPY ingest ./ingest
COPY api ./api
COPY migrations ./migrations
# Editable on purpose: `api/ops/migrate.py` finds `migrations/` next to the packages, and a
# wheel install would leave it behind.
RUN pip install --no-deps -e .

# Non-root. /blobs (ENCLAVE_BLOB_DIR in deploy/docker-compose.yml) exists in the image so
# that a fresh named volume mounted there starts owned by this user.
RUN useradd --create-home --uid 10001 --user-group enclave \
    && mkdir -p /data /blobs \
    && chown enclave:enclave /data /blobs
USER enclave

# With the network cut: export + int8-quantise the bundled all-MiniLM-L6-v2 into
# /data/models (the default `onnx-int8` backend's cache, so no container ever exports on its
# first request), encode a query, then load every parser and the spaCy model and parse a text.
RUN --network=none python -c "from api.services import build_embedder; from api.settings import Settings; e = build_embedder(Settings()); v = e.embed_query('offline check'); assert len(v) == e.dimension == 384, len(v); print(e.name, e.dimension)"
RUN --network=none python -c "from ingest import parse; parse.warm_up(); els = parse.partition_document(b'Offline check. Second sentence.', media_type='text/plain', filename='check.txt'); assert els, 'no elements'; print(len(els), 'element(s)')"

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["enclave", "serve", "--host", "0.0.0.0", "--port", "8000"]
