# umtfss on NVIDIA GPUs: cuML k-means, CUDA training.
# Build from the project root:
#   docker build -f docker/cuda.Dockerfile -t umtfss:cuda .
# Run the README's main job on a checkout mounted at /workspace:
#   docker run --rm --gpus all -v "$PWD":/workspace umtfss:cuda dvc repro
# The RAPIDS base image brings cuML and a CUDA runtime; torch's PyPI wheel brings its own CUDA libraries.
FROM nvcr.io/nvidia/rapidsai/base:25.10-cuda12.9-py3.12

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/umtfss
COPY pyproject.toml README.md ./
COPY umtfss ./umtfss
# cuML comes from the base image's conda environment, so the `gpu` extra is not installed again.
RUN pip install torch==2.13.0 torchvision==0.28.0 ".[s3]" \
    && git config --system --add safe.directory /workspace

# Back to the base image's unprivileged user.
USER rapids
WORKDIR /workspace
CMD ["dvc", "repro"]
