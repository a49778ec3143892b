# Shared by .ci/run and .ci/setup-and-build: the packages Ember builds with, and stage timing.
EMBER_APT_PACKAGES=(cmake g++ make catch2 libgloo-dev libopenblas-dev libcli11-dev nlohmann-json3-dev
                    zlib1g-dev iproute2 python3 ca-certificates)

# Root runs apt directly; anyone else through sudo.
ember_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ember_install_packages() {
  ember_as_root apt-get update
  ember_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${EMBER_APT_PACKAGES[@]}"
}

# stage NAME COMMAND...: runs the command, prints and records how long it took.
EMBER_STAGE_TIMES=()
stage() {
  local name=$1
  shift
  local start=$SECONDS
  echo
  echo "==== [$name] $(date '+%H:%M:%S')"
  "$@"
  local took=$((SECONDS - start))
  echo "==== [$name] done in ${took}s"
  EMBER_STAGE_TIMES+=("$(printf '%-28s %5ds' "$name" "$took")")
}

print_stage_times() {
  echo
  echo "==== stage timings"
  printf '  %s\n' "${EMBER_STAGE_TIMES[@]}"
  echo "  total                        ${SECONDS}s"
}
