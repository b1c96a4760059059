"""CLI subcommands, one module each (discovered by nnet2.cli)."""
