# esign-worker image: one image for every command (worker, listener, start, sandbox, demo, …).
#   docker build -t esign-worker .
#   docker run --rm esign-worker worker

# Build stage: full install (TypeScript and the node@24 devDependency) to compile src/ to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies only. The node@24 devDependency is not installed, so
# the base image's Node 24 runs the service; install scripts are not needed by any runtime
# dependency (the optional native msgpackr helper falls back to JavaScript).
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    METRICS_PORT=9464 \
    CALLBACK_PORT=8080 \
    HEALTHCHECK_PORT=9464
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist

# Files stay root-owned and read-only to the service, which runs as the image's unprivileged user.
USER node
EXPOSE 9464 8080 8090

# Liveness of whatever command runs: /healthz on HEALTHCHECK_PORT (9464 for worker and start;
# set it to the CALLBACK_PORT for listener). curl is absent in slim images, Node's fetch is not.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTHCHECK_PORT || '9464') + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "/app/bin/esign-worker.js"]
CMD ["start"]
