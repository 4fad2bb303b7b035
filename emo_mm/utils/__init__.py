from .safe_load import CheckpointReadError, allow_mmengine_checkpoints, safe_torch_load

__all__ = ['CheckpointReadError', 'allow_mmengine_checkpoints', 'safe_torch_load']
