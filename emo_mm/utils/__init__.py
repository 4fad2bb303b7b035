from .safe_load import allow_mmengine_checkpoints, safe_torch_load

__all__ = ['allow_mmengine_checkpoints', 'safe_torch_load']
