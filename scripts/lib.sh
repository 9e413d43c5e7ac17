# shellcheck shell=bash
# Helpers shared by the bash entry points in scripts/. Source it after `set -eEuo pipefail`; it
# defines functions and a few variables and starts nothing.

# GKEDR_CACHE holds what is expensive to make (the kube-apiserver binary). It lives outside the
# repository on purpose: CI clones afresh for every run on the same machine, so only a cache under
# $HOME survives from one run to the next.
GKEDR_CACHE="${GKEDR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gkedr}"

# log prints a progress line on stderr, so that stdout stays free for what a command outputs.
log() {
  printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# die prints an error with the way to fix it and exits.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# require_cmd fails with a hint when a command is not on PATH.
require_cmd() {
  local cmd="$1" hint="$2"
  command -v "${cmd}" >/dev/null 2>&1 || die "${cmd} not found: ${hint}"
}

# apt_install installs Debian packages when one of the commands they provide is missing. Note that
# `apt-get update` runs at most once per process: the package lists of a fresh machine are empty.
_apt_updated=false
apt_install() {
  local cmd="$1"
  shift
  command -v "${cmd}" >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] || die "${cmd} not found: run 'sudo apt-get install -y $*' (or run this script as root)"
  require_cmd apt-get "install the Debian package(s) $* by hand"
  log "installing $* (for ${cmd})"
  if [[ "${_apt_updated}" != true ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
  command -v "${cmd}" >/dev/null 2>&1 || die "installed $* but ${cmd} is still not on PATH"
}

# free_port prints a loopback TCP port that no socket uses. Note that it picks below the kernel's
# ephemeral range (ip_local_port_range, usually from 32768): a port in that range can be taken at
# any moment as the source port of an outgoing connection, and a daemon binding it then fails
# with "address already in use" although nothing listens there. A port can still be taken
# between this check and its use; callers wait for readiness and fail loudly.
free_port() {
  local port _ low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  ((low > 11000)) || die "the ephemeral port range starts at ${low}: no room below it for test daemons"
  for _ in $(seq 1 50); do
    port=$((10000 + RANDOM % (low - 10000)))
    if [[ -z "$(ss -Htan "( sport = :${port} or dport = :${port} )")" ]]; then
      echo "${port}"
      return 0
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

# wait_ready runs a probe command until it succeeds, and fails when the daemon (a pid from
# start_daemon) exits first or the deadline (in seconds) passes. The 0.1 s pause between tries is a
# poll interval, not a guess at how long a start takes.
wait_ready() {
  local pid="$1" deadline="$2" what="$3"
  shift 3
  local end=$((SECONDS + deadline))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      log "${what} exited before it was ready"
      return 1
    fi
    if ((SECONDS >= end)); then
      log "${what} not ready after ${deadline}s"
      return 1
    fi
    sleep 0.1
  done
}

# start_daemon starts a command in its own session with its output in a log file, and prints its
# pid. Note that the own session is what lets stop_daemon end the whole process tree (gcloud starts
# the Pub/Sub emulator as a java child that outlives a plain kill of gcloud), and the redirections
# are what let `$(...)` around a starter return while the daemon runs on.
start_daemon() {
  local logfile="$1"
  shift
  setsid "$@" </dev/null >"${logfile}" 2>&1 &
  echo "$!"
}

# stop_daemon ends the process group that start_daemon started, politely first, and waits for it.
stop_daemon() {
  local pid="$1" _
  kill -0 "${pid}" 2>/dev/null || return 0
  kill -TERM -- "-${pid}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    pgrep -g "${pid}" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  log "process group ${pid} ignored SIGTERM for 10s; killing it"
  kill -KILL -- "-${pid}" 2>/dev/null || true
}

# elapsed prints the seconds since a start time taken from $EPOCHREALTIME, to a tenth.
elapsed() {
  local start="$1"
  awk -v s="${start}" -v e="${EPOCHREALTIME}" 'BEGIN { printf "%.1f", e - s }'
}
