# syntax=docker/dockerfile:1
# Multi-stage build: a static kurier binary on a distroless base, run as a
# non-root user with its data in a volume. (Not built in the development
# sandbox, which has no Docker engine; see README.)

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/kurier ./cmd/kurier \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kurier /usr/local/bin/kurier
# Owned by distroless's nonroot user (65532), mounted as a volume.
COPY --from=build --chown=65532:65532 /out/data /var/lib/kurier
USER 65532:65532
ENV XDG_DATA_HOME=/var/lib \
    XDG_CONFIG_HOME=/etc
VOLUME ["/var/lib/kurier"]
EXPOSE 7470
ENTRYPOINT ["/usr/local/bin/kurier"]
CMD ["serve", "--data-dir", "/var/lib/kurier", "--listen", "0.0.0.0:7470"]
