# The two-factor service: one image, two processes (the API and the code-log worker).
# Build:  docker compose build        (or: docker build -t two-factor-service .)
# Works with BuildKit and with the legacy builder (docker-compose v1 uses the latter).

# A current LTS Node on Debian slim. Override with --build-arg NODE_IMAGE=... (for example a
# mirror of the same image); the build stage below needs apt and the Node headers in it.
# Node 24 needs better-sqlite3 13 (src/db/driver.ts picks it from Node 22 on): with 12, Node
# >= 24.19 aborts the process when the garbage collector frees a statement ("Assertion failed:
# (env) != nullptr"); the container test counts crash-restarts to catch that kind of failure.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: dev dependencies, the native tool chain, tsc ------------------------------------
FROM ${NODE_IMAGE} AS build

# better-sqlite3 13 brings prebuilt Node-API binaries in its package; the tool chain is for the
# native addon npm ci compiles: better-sqlite3 12, the optional fallback for Node 20
# (better-sqlite3-node20), installed whatever the Node.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# node-gyp compiles against the headers of the Node in this image (/usr/local/include/node)
# instead of downloading them, and prebuild-install does not try to fetch a binary from GitHub:
# the build needs no network beyond apt and the npm registry.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# The npm registry comes from the build environment (compose passes NPM_CONFIG_REGISTRY through);
# npm reads this variable itself and ignores it when it is empty, i.e. uses its default.
ARG NPM_CONFIG_REGISTRY=

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf node_modules/better-sqlite3*/build/Release/obj* node_modules/better-sqlite3*/deps \
           node_modules/better-sqlite3*/src

# ---- runtime: production dependencies and compiled JavaScript only ---------------------------
FROM ${NODE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="two-factor-service" \
      org.opencontainers.image.description="Two-factor authentication microservice (API and code-log worker)"

# V8's young generation capped at 2 x 16 MB, Node 20's default (issue 5, bench/analysis.md,
# eleventh round). Node 24 lets it grow to 2 x 64 MB under load, and the API's RSS with it: ~200
# MB against ~170 MB capped, with no CPU cost the benchmark could see. A heap setting, so it
# must be given when node starts; `npm start` and the benchmark pass the same.
ENV NODE_OPTIONS=--max-semi-space-size=16

ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    CRON_DIR=/cron \
    KEYS_DIR=/run/keys \
    PRIVATE_KEY_PATH=/run/keys/private_key.pem \
    PUBLIC_KEY_PATH=/run/keys/public_key.pem

WORKDIR /app

# The volume mount points. Compose may run the containers as any uid (APP_UID, so that the
# 0600 private key on the host is readable), so like /tmp they are writable by every uid and
# sticky; what the service writes inside them stays owned by, and private to, that uid.
RUN mkdir -p /data /cron /run/keys \
 && chown node:node /data /cron \
 && chmod 1777 /data /cron

# Owned by root: the service user can read its code but not change it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs

USER node
EXPOSE 8080

# For the API. The worker serves no HTTP; compose turns this check off for it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]

# The API. The worker runs from the same image with: node dist/worker.js
CMD ["node", "dist/server.js"]
