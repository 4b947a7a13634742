# opencode-server: the compiled server plus the opencode CLI on Debian slim, running as a non-root user.
ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml ./
# Scripts are not needed: the opencode binary is taken from its platform package below.
RUN bun install --frozen-lockfile --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY web ./web
COPY scripts/build.ts ./scripts/build.ts
RUN bun run build \
 && case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac \
 && install -m 0755 "node_modules/opencode-linux-${arch}/bin/opencode" /src/dist/opencode \
 && /src/dist/opencode-server --version

FROM debian:bookworm-slim
# git for repository runs and the agent, ca-certificates for TLS, ripgrep for opencode's grep/glob tools,
# bubblewrap for each run's sandbox (it needs deploy/docker/seccomp-bwrap.json; without it SANDBOX=auto
# falls back to Landlock and says so).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates ripgrep bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --home-dir /home/opencode --uid 10001 --user-group --shell /bin/bash opencode \
 && install -d -o opencode -g opencode -m 0700 /var/lib/opencode-server /var/lib/opencode-server/work /var/lib/opencode-server/data
COPY --from=build /src/dist/opencode-server /usr/local/bin/opencode-server
COPY --from=build /src/dist/opencode /usr/local/bin/opencode
USER opencode
WORKDIR /home/opencode
# HOST=0.0.0.0: in a container the port is only reachable where it is published (-p); without API_KEY
# the server warns at start-up and /health says auth is "none".
ENV HOME=/home/opencode \
    PORT=8080 \
    HOST=0.0.0.0 \
    WORK_DIR=/var/lib/opencode-server/work \
    DATA_DIR=/var/lib/opencode-server/data \
    OPENCODE_BIN=/usr/local/bin/opencode
VOLUME ["/var/lib/opencode-server"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["/usr/local/bin/opencode-server", "healthcheck"]
# The server is PID 1: it handles SIGTERM itself (drain, kill runs, exit 0) and reaps orphaned processes.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/opencode-server"]
