# The actionlog worker image (used by docker-compose.yml; cannot be built on machines without Docker).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY actionlog ./actionlog
COPY schemas ./schemas
RUN pip install --no-cache-dir .
ENV ACTIONLOG_HTTP_HOST=0.0.0.0 ACTIONLOG_HTTP_PORT=8088
EXPOSE 8088
ENTRYPOINT ["actionlog"]
CMD ["worker"]
