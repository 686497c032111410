# The partnerflow image: worker (default), migrations, the codec server and the portal.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY domain domain
COPY store store
COPY activities activities
COPY workflows workflows
COPY cli cli
COPY client client
COPY relay relay
COPY portal portal
COPY codec codec
COPY config config
COPY telemetry telemetry
COPY ops ops
COPY deploy deploy
COPY devstack devstack
COPY *.py ./
# Only the runtime dependencies: no embedded Temporal or PostgreSQL in the image.
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home partnerflow \
    && mkdir -p /var/lib/partnerflow/documents && chown -R partnerflow /var/lib/partnerflow
USER partnerflow
EXPOSE 9464 8081 8040
CMD ["python", "worker.py"]
