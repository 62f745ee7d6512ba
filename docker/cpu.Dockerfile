# umtfss on CPU. Build from the project root:
#   docker build -f docker/cpu.Dockerfile -t umtfss:cpu .
# Run the README's main job on a checkout mounted at /workspace (DVC needs the project's git repository):
#   docker run --rm -v "$PWD":/workspace umtfss:cpu dvc repro
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/*

# The CPU builds of torch and torchvision: PyPI's default builds carry gigabytes of CUDA libraries.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 torchvision==0.28.0

WORKDIR /opt/umtfss
COPY pyproject.toml README.md ./
COPY umtfss ./umtfss
# The mounted checkout belongs to another user: git (and so DVC) must be told to work in it.
RUN pip install ".[s3]" \
    && git config --system --add safe.directory /workspace

WORKDIR /workspace
CMD ["dvc", "repro"]
