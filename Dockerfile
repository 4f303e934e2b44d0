# ogsandbox in a container: one static binary on a distroless base.
#   docker build -t ogsandbox .
#   docker run -p 8080:8080 -p 2222:2222 ogsandbox
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ogsandbox ./cmd/ogsandbox \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ogsandbox /ogsandbox
# The image runs as distroless's nonroot user (65532): it owns the state directory.
COPY --from=build --chown=65532:65532 /out/data /data
# Inside a container the sandbox listens on every interface; state lives in the /data volume.
ENV OGSANDBOX_LISTEN=0.0.0.0:8080 \
    OGSANDBOX_SFTP_LISTEN=0.0.0.0:2222 \
    OGSANDBOX_DATA_DIR=/data
EXPOSE 8080 2222
VOLUME /data
HEALTHCHECK --interval=2s --timeout=3s --retries=15 CMD ["/ogsandbox", "health", "--url", "http://127.0.0.1:8080"]
ENTRYPOINT ["/ogsandbox"]
CMD ["serve"]
