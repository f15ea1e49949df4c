# Sourced by scripts/test and scripts/bench: the pinned MinIO server, built
# once with `go install` into the tools cache. Defines say and
# install_minio; install_minio exports KURIER_MINIO_BIN.

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c # RELEASE 2026-02-12
TOOLS_DIR="${KURIER_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kurier-tools}"

say() { printf '==> %s\n' "$*" >&2; }

install_minio() {
  local dir="$TOOLS_DIR/minio-$MINIO_VERSION"
  if [ ! -x "$dir/minio" ]; then
    say "installing MinIO server $MINIO_VERSION into $dir (first run only, a few minutes)"
    GOBIN="$dir" go install "github.com/minio/minio@$MINIO_VERSION"
  fi
  export KURIER_MINIO_BIN="$dir/minio"
}
