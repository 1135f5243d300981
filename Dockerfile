# Tessera — OAuth 2.0 authorization server. One image for the server, the CLI and migration jobs.
#
#   docker build -t tessera .
#   docker run -d --name tessera -p 8080:8080 -v tessera-data:/var/lib/tessera tessera   # embedded mode
#   docker exec tessera tessera users list        # the CLI, inside the running container
#
# The embedded mode keeps its database and its generated key-encryption key under /var/lib/tessera
# (a volume: back it up as one). Production (Postgres, optionally Redis): docker-compose.yml and
# docs/scaling.md.

# The current Node.js LTS line.
ARG NODE_IMAGE=node:26-trixie-slim

# ---- build: full install, compile TypeScript, then drop the devDependencies -----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` compiles, and the sources are not copied yet (it runs just below).
# argon2 needs no install script: it loads the prebuilt binary shipped in its npm package.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: compiled output and production dependencies only ------------------------------------
FROM ${NODE_IMAGE} AS runtime
# MALLOC_MMAP_THRESHOLD_: glibc serves allocations of 1 MiB and more with mmap and returns them on
# free. Without it, glibc raises its threshold after the first big free and keeps each argon2id
# hash's 19 MiB in the arena of the libuv thread that ran it: about 75 MiB more RSS for good after
# the first few logins (README, Performance).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/tessera/data \
    KEYS_DIR=/var/lib/tessera/keys \
    MALLOC_MMAP_THRESHOLD_=1048576
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json openapi.yaml ./
COPY bin ./bin
# `tessera` on PATH: the same CLI as `npx --no -- tessera` in a checkout, never fetched from a registry.
RUN ln -s /app/bin/tessera.js /usr/local/bin/tessera \
 && mkdir -p /var/lib/tessera/data /var/lib/tessera/keys \
 && chown -R node:node /var/lib/tessera \
 && chmod 0700 /var/lib/tessera/data /var/lib/tessera/keys
VOLUME ["/var/lib/tessera"]
USER node
EXPOSE 8080
# No curl in slim images: probe with Node's built-in fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "bin/tessera-server.cjs"]
