# Tamarin in a container (docs/production.md). Build: docker build -t tamarin .
# Run the bundled demo site:        docker run --rm -p 8080:8080 tamarin
# Serve a folder:                   docker run --rm -p 8080:8080 -v "$PWD/public:/srv/www:ro" tamarin \
#                                     serve /srv/www --host 0.0.0.0
# With a config file:               docker run --rm -p 8080:8080 -v "$PWD/tamarin.toml:/etc/tamarin/tamarin.toml:ro" \
#                                     tamarin serve --config /etc/tamarin/tamarin.toml --host 0.0.0.0
# Workers: one per CPU the container may use (its --cpus limit is honoured).

# Build stage: compile to dist/ and pack exactly what npm would publish.
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the pinned `node` devDependency would fetch a second Node; this image has Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /tmp && mv /tmp/tamarin-server-*.tgz /tmp/tamarin-server.tgz

# Run stage: the package and its production dependencies only.
FROM node:24-slim
ENV NODE_ENV=production
COPY --from=build /tmp/tamarin-server.tgz /tmp/tamarin-server.tgz
RUN npm install --global --omit=dev --no-audit --no-fund /tmp/tamarin-server.tgz \
  && rm /tmp/tamarin-server.tgz \
  && npm cache clean --force
# The image's unprivileged user; Docker lets any user bind ports below 1024 in a container (its default
# net.ipv4.ip_unprivileged_port_start=0), so no root is needed for -p 80:80 either.
USER node
WORKDIR /srv
EXPOSE 8080
# The main listener answers (any status below 500): the server is up and its workers serve.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/').then((r) => process.exit(r.status < 500 ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) drains in-flight requests; give it longer than server.shutdown_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tamarin"]
# 0.0.0.0 inside the container: the default 127.0.0.1 would be unreachable through -p. The admin API and
# dashboard stay on the container's loopback; publish them with --admin 0.0.0.0:9090 and [admin] token.
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
