# Tessera — OAuth 2.0 authorization server.
#   docker build -t tessera .
#   docker run -p 8080:8080 tessera          # embedded mode (PGlite, in-process "Redis")
# For production (Postgres + Redis) see docker-compose.yml.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full install, compile TypeScript to dist/ ----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# tsc emits dist/src (server: dist/src/main.js, CLI: dist/src/cli/main.js)
# and dist/migrations.
RUN npm run build

# ---- runtime: production dependencies + compiled output only ---------------
FROM ${NODE_IMAGE} AS runtime
# MALLOC_MMAP_THRESHOLD_: glibc serves allocations of 1 MiB and more with mmap and returns them on
# free. Without it, glibc raises its threshold after the first big free and keeps each argon2id
# hash's 19 MiB in the arena of the libuv thread that ran it: about 75 MiB more RSS for good after
# the first few logins (README, Performance).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    MALLOC_MMAP_THRESHOLD_=1048576
WORKDIR /app
COPY package.json package-lock.json ./
# argon2 installs from the prebuilt binary shipped in its npm package.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY openapi.yaml ./
# Embedded mode writes its database (DATA_DIR=./data) and generated
# key-encryption key (keys/) under /app: give those to the runtime user.
RUN mkdir -p data keys && chown node:node data keys
USER node
EXPOSE 8080
# No curl in slim images: probe with Node's built-in fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
