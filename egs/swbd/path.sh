# The recipe's environment (Kaldi's path.sh): the project's virtualenv and `nnet2`; shared by the recipes.
. "$(dirname "${BASH_SOURCE[0]}")/../_common/path.sh"
