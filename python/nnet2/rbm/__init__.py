"""RBM pretraining (Kaldi nnet1 style): CD-1 in the C++ core, DBN stacking and nnet1 file I/O here."""

from nnet2.io.nnet1 import (Rbm, dbn_to_layers, feature_transform_to_mean_std, read_nnet1,  # noqa: F401
                                write_nnet1)
from nnet2.rbm.train import (DbnOptions, DbnResult, FrameRandomizer, MomentumSchedule,  # noqa: F401
                             RbmTrainOptions, pretrain_dbn, train_rbm)
