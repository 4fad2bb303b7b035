"""SSD's head, able to predict under mmdet 3.3.0, optionally with one set of convs for all
levels.

mmdet 3.3.0's ``SSDHead`` skips ``AnchorHead.__init__`` and never sets ``loss_cls``, but
``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls`` (mmdet issues #11305 and
#11780), so validation and inference fail with
``'SSDHead' object has no attribute 'loss_cls'``. SSD computes its classification loss
with a plain cross-entropy, so ``loss_cls`` is simply None here.
"""
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS
from torch import nn


@MODELS.register_module()
class FixedSSDHead(SSDHead):
    """``SSDHead`` with ``loss_cls = None`` so that prediction works (see module docstring).

    Args:
        share_levels: use the first level's classification and regression convs on every
            level, as RetinaNet's head does (each weight then learns from the objects of all
            levels). Needs the same channels and anchors per location on every level, and a
            norm whose statistics do not mix levels (GroupNorm, not BatchNorm).
        *args, **kwargs: those of ``SSDHead``.
    """

    def __init__(self, *args, share_levels: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(self, 'loss_cls'):
            self.loss_cls = None
        self.share_levels = share_levels
        if share_levels:
            self._share_first_level()

    def _share_first_level(self) -> None:
        if len(set(self.in_channels)) != 1 or len(set(self.num_base_priors)) != 1:
            raise ValueError(
                'share_levels=True needs the same in_channels and anchors per location on every '
                f'level, got in_channels={tuple(self.in_channels)} and '
                f'{tuple(self.num_base_priors)} anchors')
        if self.norm_cfg is not None and 'BN' in str(self.norm_cfg.get('type', '')):
            raise ValueError(
                'share_levels=True with BatchNorm mixes the statistics of all levels in its '
                "running estimates: use GroupNorm, norm_cfg=dict(type='GN', ...)")
        levels = len(self.cls_convs)
        self.cls_convs = nn.ModuleList([self.cls_convs[0]] * levels)
        self.reg_convs = nn.ModuleList([self.reg_convs[0]] * levels)
