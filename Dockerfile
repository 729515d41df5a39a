# presenced: a self-hosted Microsoft Graph presence server.
#
#   docker build -t presenced .
#   docker run -p 8080:8080 -v presenced-data:/data presenced serve --dev
#
# Every flag of `presenced serve` is also an environment variable
# (PRESENCED_<FLAG>, docs/operating.md). The server runs as an unprivileged
# user, keeps everything under /data, and reports readiness to the engine's
# HEALTHCHECK through `presenced healthcheck` (the image has no shell or curl).

# Build: a static binary (no cgo), reproducible paths, no symbol tables.
# cmd/presenced/deploy_test.go runs the `go build` line below as written, and
# checks that .dockerignore leaves in every file that build reads.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/presenced ./cmd/presenced
RUN mkdir -p /out/data

# Run: distroless static (CA certificates for https webhooks, a nonroot
# user; no shell). Time zone data is in the binary (time/tzdata).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/presenced /presenced
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV PRESENCED_ADDR=:8080 \
    PRESENCED_DATA=/data \
    PRESENCED_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/presenced", "healthcheck"]
ENTRYPOINT ["/presenced"]
CMD ["serve"]
