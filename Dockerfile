# The OMS image: one image for the API (default), the worker, the simulators and the migration job;
# temporal-compose.yml picks the part with its command (`oms api`, `oms worker`, `oms simulators`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# The runtime dependencies first, read from pyproject.toml alone, so a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself, without the dev extras.
COPY . .
RUN pip install .

# Run as an unprivileged user with its own empty working directory (settings' data_dir is relative).
RUN groupadd --system --gid 10001 oms \
    && useradd --system --uid 10001 --gid oms --home-dir /app --create-home --shell /usr/sbin/nologin oms
WORKDIR /app
USER 10001:10001

EXPOSE 8000
CMD ["oms", "api"]
