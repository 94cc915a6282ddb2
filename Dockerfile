# Plain on purpose: the same steps run in a fresh venv are what CI proves (see docs/deployment.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data

# The ffmpeg command: the relay for srt:// live sources (the FFmpeg inside PyAV's wheels has no SRT).
# tini as PID 1 reaps a relay whose worker was killed (docker run, Compose and Kubernetes alike).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg tini \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 vidpulse \
    && mkdir -p /data && chown vidpulse:vidpulse /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vidpulse ./vidpulse
COPY server ./server
COPY processing ./processing
COPY client ./client
COPY static ./static
RUN pip install . && rm -rf /app/build

USER vidpulse
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--"]
CMD ["vidpulse", "serve"]
