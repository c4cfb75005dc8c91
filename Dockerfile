# The Stratus image: the operator (`stratus run`) and the console (`stratus dashboard`).
# Dependencies from the locks, no compilers in the final stage.

# The console's JavaScript and CSS, from the npm registry, as `make assets` installs them.
FROM node:20.20.2-bookworm-slim AS assets
WORKDIR /src
COPY operator/stratus/dashboard/package.json operator/stratus/dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund && npm run build

FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY requirements.lock pyproject.toml ./
COPY operator ./operator
COPY --from=assets /src/static/vendor ./operator/stratus/dashboard/static/vendor
RUN python -m venv /opt/stratus \
 && /opt/stratus/bin/pip install --no-cache-dir -r requirements.lock \
 && /opt/stratus/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11.14-slim-bookworm
COPY --from=build /opt/stratus /opt/stratus
ENV PATH=/opt/stratus/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8000 8080 9090
ENTRYPOINT ["stratus", "run"]
CMD ["--json-logs"]
