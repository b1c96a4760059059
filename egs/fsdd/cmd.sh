# The only site-specific file. How to launch N MPI workers for training / pretraining.
# Always through `python -m mpi4py`, so that a failing rank aborts the whole job.
# $1 = number of workers, then the command.
mpi_cmd() {
  local n=$1; shift
  mpiexec -n "$n" python -m mpi4py "$@"
}
# On a SLURM cluster (one task per worker, cores per task = threads per worker):
# mpi_cmd() { local n=$1; shift; srun --ntasks="$n" --cpus-per-task=1 --kill-on-bad-exit=1 python -m mpi4py "$@"; }
