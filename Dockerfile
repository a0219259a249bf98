# esign-worker image: one image for every production command (worker, listener, start, enqueue,
# status). The Esign simulator is a development tool and has its own target:
#   docker build -t esign-worker .                          # production (the last stage)
#   docker build --target sandbox -t esign-sandbox .        # the simulator, for the compose demo
#   docker run --rm esign-worker worker

# Build stage: full install (TypeScript and the node@24 devDependency) to compile src/ to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Simulator stage: the sandbox runs from source (Node 24 strips the types) beside src/, which it
# imports; production dependencies are all it needs. Never shipped in the production stage.
FROM node:24-bookworm-slim AS sandbox
ENV NODE_ENV=production \
    SANDBOX_HOST=0.0.0.0 \
    SANDBOX_PORT=8090
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY sandbox ./sandbox
USER node
EXPOSE 8090
ENTRYPOINT ["node", "/app/bin/esign-worker.js"]
CMD ["sandbox"]

# Runtime stage: production dependencies only. The node@24 devDependency is not installed, so
# the base image's Node 24 runs the service; install scripts are not needed by any runtime
# dependency (the optional native msgpackr helper falls back to JavaScript). --omit=optional also
# keeps out TypeScript, which the lockfile marks optional (a peer of bull-board's valibot).
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    METRICS_PORT=9464 \
    CALLBACK_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist

# Files stay root-owned and read-only to the service, which runs as the image's unprivileged user.
USER node
EXPOSE 9464 8080

# Liveness of whatever long-running command runs: each serves /healthz on its ops port,
# METRICS_PORT (HEALTHCHECK_PORT overrides). curl is absent in slim images, Node's fetch is not.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTHCHECK_PORT || process.env.METRICS_PORT || '9464') + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "/app/bin/esign-worker.js"]
CMD ["start"]
