# The Stratus operator image: dependencies from the lock, no compilers in the final stage.
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY requirements.lock pyproject.toml ./
COPY operator ./operator
RUN python -m venv /opt/stratus \
 && /opt/stratus/bin/pip install --no-cache-dir -r requirements.lock \
 && /opt/stratus/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11.14-slim-bookworm
COPY --from=build /opt/stratus /opt/stratus
ENV PATH=/opt/stratus/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["stratus", "run"]
CMD ["--json-logs"]
