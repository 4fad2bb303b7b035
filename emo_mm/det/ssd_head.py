"""SSDHead that can predict under mmdet 3.3.0.

mmdet 3.3.0's ``SSDHead`` skips ``AnchorHead.__init__`` and never sets ``loss_cls``, but
``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls`` (mmdet issues #11305 and
#11780), so validation and inference fail with
``'SSDHead' object has no attribute 'loss_cls'``. SSD computes its classification loss
with a plain cross-entropy, so ``loss_cls`` is simply None here.
"""
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS


@MODELS.register_module()
class FixedSSDHead(SSDHead):
    """``SSDHead`` with ``loss_cls = None`` so that prediction works (see module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(self, 'loss_cls'):
            self.loss_cls = None
