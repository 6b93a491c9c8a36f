# The actionlog worker image (used by docker-compose.yml; cannot be built on machines without Docker).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY actionlog ./actionlog
COPY schemas ./schemas
RUN pip install --no-cache-dir . \
 && groupadd --system --gid 10001 actionlog \
 && useradd --system --uid 10001 --gid actionlog --home-dir /var/lib/actionlog --create-home actionlog
# Runs as a user without privileges; its data (an embedded store, if used) under /var/lib/actionlog.
USER actionlog
WORKDIR /var/lib/actionlog
# In a container the port must be reachable from outside the container; the worker still refuses
# to serve there until a token exists (`docker compose run --rm processor tokens create ...`).
ENV ACTIONLOG_HTTP_HOST=0.0.0.0 ACTIONLOG_HTTP_PORT=8088
EXPOSE 8088
ENTRYPOINT ["actionlog"]
CMD ["worker"]
