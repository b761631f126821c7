# jwt-auth-service: multi-stage. Native modules (argon2, better-sqlite3) are compiled in the build
# stages; the runtime image has no compiler, no dev dependencies, and runs as the unprivileged `node` user.

# Production dependencies only, with the native modules compiled here.
FROM node:24-bookworm-slim AS deps
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# The verifier package is a workspace: node_modules/@jwt-auth-service/verifier links to it.
COPY packages/verifier/package.json ./packages/verifier/
RUN npm ci --omit=dev --loglevel=warn

# The TypeScript build, with the dev dependencies.
FROM node:24-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/verifier/package.json ./packages/verifier/
RUN npm ci --loglevel=warn
COPY tsconfig.json tsconfig.build.json ./
COPY packages/verifier ./packages/verifier
COPY src ./src
COPY scripts ./scripts
RUN npm run build

FROM node:24-bookworm-slim AS runtime
# tini: PID 1 that forwards SIGTERM, so that the service drains and closes gracefully.
# Memory (measured, BENCHMARKS.md): MALLOC_ARENA_MAX=2, or glibc keeps an arena per libuv thread (45 MB);
# fixed mmap and trim thresholds, so that argon2's 19 MiB per hash goes back to the system when the hash
# is done (glibc would otherwise raise its mmap threshold and keep them: 35 MB idle after the first logins),
# mapped with transparent huge pages (glibc.malloc.hugetlb=1: madvise, which the kernel's default `madvise`
# mode honours): 4 KiB pages cost every hash 5,000 page faults, 10 ms of CPU more per login, a third;
# V8's young generation capped at 2 MB semi-spaces (17 MB), and its old generation at 192 MB, half the
# Deployment's memory limit: V8 sizes its heap by the machine's memory, not the pod's, and would otherwise let
# garbage pile up to near the limit before collecting (a 150,000-event feed streamed to 11 subscribers:
# 360 MiB resident instead of 180). Raise both together. UV_THREADPOOL_SIZE: the pod's CPUs (k8s sets it).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    UV_THREADPOOL_SIZE=2 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/packages/verifier/dist ./packages/verifier/dist
COPY --chown=node:node package.json ./
COPY --chown=node:node packages/verifier/package.json ./packages/verifier/
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=2", "--max-old-space-size=192", "dist/src/server.js"]
