# Command-line options for recipes (Kaldi's utils/parse_options.sh, icefall's shared/parse_options.sh).
#
# Source it after declaring every option as a shell variable with its default:
#     stage=0
#     num_workers=1
#     . ../_common/parse_options.sh
# Then `--num-workers 4` or `--num-workers=4` sets num_workers=4. An option whose variable was not
# declared is an error, as is a missing value; a variable whose default is true/false only accepts
# true or false. `--help`/`-h` prints $help_message (if the recipe set one) and the options with their
# current values, then exits. Parsing stops at the first argument that does not start with `--`
# (or after `--`); the remaining arguments are left in "$@".

_po_prog=${0##*/}

_po_usage() {
  [ -n "${help_message:-}" ] && printf '%s\n\n' "$help_message"
  echo "Options (current values):"
  local v
  for v in "${_po_declared[@]}"; do
    printf '  --%-28s %s\n' "${v//_/-}" "${!v}"
  done
}

# The recipe's options: lower-case shell variables that are not exported (so the environment's
# own variables such as http_proxy are never taken for options), alphabetically.
mapfile -t _po_declared < <(declare -p | sed -n 's/^declare -[-a-zA-Z]* \([a-z][a-z0-9_]*\)=.*/\1 &/p' |
  awk '$3 !~ /x/ && $1 != "help_message" && $1 !~ /^_po_/ {print $1}')

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) _po_usage; exit 0 ;;
    --) shift; break ;;
    --*=*) _po_name=${1%%=*}; _po_value=${1#*=}; shift ;;
    --*)
      if [ $# -lt 2 ]; then
        echo "$_po_prog: option $1 needs a value" >&2; exit 1
      fi
      _po_name=$1; _po_value=$2; shift 2 ;;
    *) break ;;
  esac
  _po_var=${_po_name#--}
  _po_var=${_po_var//-/_}
  if ! [[ " ${_po_declared[*]} " == *" $_po_var "* ]]; then
    echo "$_po_prog: unknown option $_po_name (see $_po_prog --help)" >&2; exit 1
  fi
  if [[ ${!_po_var} == true || ${!_po_var} == false ]] && [[ $_po_value != true && $_po_value != false ]]; then
    echo "$_po_prog: option $_po_name expects true or false, got '$_po_value'" >&2; exit 1
  fi
  printf -v "$_po_var" '%s' "$_po_value"
done
unset _po_name _po_value _po_var
true
