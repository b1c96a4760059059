# Logging for recipes: `log "Stage 1: ..."` prints a timestamped line naming the script and line
# (icefall style); `die "message"` logs to stderr and exits 1.

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

die() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}) ERROR: $*" >&2
  exit 1
}
