"""Helpers of the non-geo tests."""

import lightning.pytorch as pl


def quiet_trainer(epochs: int) -> pl.Trainer:
    """A CPU trainer without logger, checkpoints, progress bar or sanity check.

    Args:
        epochs: epochs to train.

    Returns:
        The trainer.
    """
    return pl.Trainer(
        max_epochs=epochs,
        accelerator='cpu',
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
