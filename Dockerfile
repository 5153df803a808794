# syntax=docker/dockerfile:1
# The seatkeeper operator image: a static binary on distroless, run as a non-root user.
#   docker build -t ghcr.io/seatkeeper/seatkeeper:dev .
#   docker build --target agent -t ghcr.io/seatkeeper/seatkeeper-agent:dev .   (the sidecar)
#   docker build --target portal -t ghcr.io/seatkeeper/seatkeeper-portal:dev . (the licence portal)
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/seatkeeper/seatkeeper:dev .

# The builder runs on the build machine's platform and cross-compiles for the target one.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace

# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

# The sources (.dockerignore lets in only Go files).
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager . && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o seatkeeper-agent ./cmd/seatkeeper-agent && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o seatkeeper-portal ./cmd/seatkeeper-portal

# The agent sidecar (cmd/seatkeeper-agent).
FROM gcr.io/distroless/static:nonroot AS agent
WORKDIR /
COPY --from=builder /workspace/seatkeeper-agent /seatkeeper-agent
USER 65532:65532
ENTRYPOINT ["/seatkeeper-agent"]

# The licence portal (cmd/seatkeeper-portal): its pages, styles and script are embedded in the
# binary; time zones come from Go's embedded tzdata. config/portal runs it behind oauth2-proxy.
FROM gcr.io/distroless/static:nonroot AS portal
WORKDIR /
COPY --from=builder /workspace/seatkeeper-portal /seatkeeper-portal
USER 65532:65532
ENTRYPOINT ["/seatkeeper-portal"]

# The operator, the default (last) target. distroless/static: no shell, no package manager;
# "nonroot" is user 65532.
FROM gcr.io/distroless/static:nonroot AS manager
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
