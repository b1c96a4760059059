# Kaldi-style option parsing for recipes: source this after declaring the variables with defaults.
# `--foo-bar VALUE` or `--foo-bar=VALUE` sets foo_bar if (and only if) it was declared; anything
# else is an error. `--help` prints the declared options ($help_message first, if set).
# Positional arguments that follow are left in "$@".

while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      echo -e "${help_message:-}" >&2
      exit 0 ;;
    --*=*)
      _name=$(echo "${1%%=*}" | sed 's/^--//; s/-/_/g')
      _value="${1#*=}"
      shift ;;
    --*)
      _name=$(echo "$1" | sed 's/^--//; s/-/_/g')
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
      _value="$2"
      shift 2 ;;
    *) break ;;
  esac
  if ! declare -p "$_name" >/dev/null 2>&1; then
    echo "$0: unknown option --$(echo "$_name" | sed 's/_/-/g')" >&2
    exit 1
  fi
  # booleans are spelled true/false, as in Kaldi
  if [[ "$(eval echo \$$_name)" =~ ^(true|false)$ ]] && ! [[ "$_value" =~ ^(true|false)$ ]]; then
    echo "$0: option --$(echo "$_name" | sed 's/_/-/g') expects true or false, got '$_value'" >&2
    exit 1
  fi
  printf -v "$_name" '%s' "$_value"
done
true
