"""A Lightning callback that runs a ``Monitor`` at the end of each validation epoch (or of
each training epoch when there is no validation loop) and logs its figures to the trainer's
loggers as ``latentprobe/<scalar>`` (``pip install 'latentprobe[lightning]'``)."""

from __future__ import annotations

import lightning as L

from .monitor import Monitor


class LatentprobeCallback(L.Callback):
    """``LatentprobeCallback(x_heldout, output="trajectory.h5")``, then
    ``Trainer(callbacks=[...])``. ``module``: the attribute of the LightningModule that
    encodes (None: the LightningModule itself); other keywords go to ``Monitor``."""

    def __init__(self, x, *, module: str | None = None, **monitor):
        super().__init__()
        self.monitor = Monitor(x, **monitor)
        self.module = module
        self._done_epoch = None

    def _run(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self._done_epoch == trainer.current_epoch:
            return
        if not trainer.is_global_zero:  # one rank analyses and writes (DDP)
            return
        self._done_epoch = trainer.current_epoch
        model = getattr(pl_module, self.module) if self.module else pl_module
        found = self.monitor.update(model, trainer.global_step, trainer.current_epoch)
        if found:
            figures = {f"latentprobe/{k}": v for k, v in found.items()}
            pl_module.log_dict(figures, rank_zero_only=True)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._run(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._run(trainer, pl_module)  # when no validation ran this epoch
