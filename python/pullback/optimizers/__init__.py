"""pullback.optimizers: optimizers and learning-rate schedules (``import pullback.optimizers as
optim``)."""

from pullback.optimizers.optimizers import (SGD, AdaDelta, Adafactor, Adagrad, Adam, Adamax,
                                            AdamW, Lion, MultiOptimizer, Muon, Optimizer,
                                            RMSprop, clip_grad_norm)
from pullback.optimizers.schedulers import (cosine_decay, exponential_decay, join_schedules,
                                            linear_schedule, step_decay)
