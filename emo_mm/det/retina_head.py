"""RetinaNet's head with its training targets computed for the whole batch at once.

mmdet's ``AnchorHead`` assigns anchors to objects image by image (``multi_apply`` over
``_get_targets_single``: IoU, assigner, sampler, box encoding, unmapping) and then computes
the focal and box losses level by level: some 60 small ops per image and per level, about
18 ms of a 370 ms step of the CPU RetinaNet demo. ``BatchedRetinaHead`` does the same
computation once for a batch padded to its largest number of objects, and the losses once
over all levels: the targets are equal to mmdet's, the losses equal to float rounding (a sum
over levels is taken in another order), and the state dict is ``RetinaHead``'s.

The batched path covers RetinaNet's recipe: ``MaxIoUAssigner`` (IoU by ``BboxOverlaps2D``,
``gt_max_assign_all``, no ``perm_repeat_gt_cfg``), ``PseudoSampler`` and encoded box
targets. Other training settings, and batches with instances to ignore (``ignore_iof_thr``
> 0), take mmdet's per-image path.
"""
from typing import List, Optional, Tuple

import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.models.task_modules.assigners import MaxIoUAssigner
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor


def _batched_path_refusal(head: RetinaHead) -> Optional[str]:
    """Why ``head``'s training settings need mmdet's per-image targets (None: they do not)."""
    if not getattr(head, 'train_cfg', None):
        return 'no train_cfg'
    assigner, sampler = head.assigner, head.sampler
    if type(assigner) is not MaxIoUAssigner:
        return f'assigner {type(assigner).__name__}'
    calculator = assigner.iou_calculator
    if (type(calculator).__name__ != 'BboxOverlaps2D' or calculator.scale != 1.0
            or calculator.dtype is not None):
        return f'IoU calculator {calculator!r}'
    if assigner.match_low_quality and not assigner.gt_max_assign_all:
        return 'gt_max_assign_all=False'
    if assigner.perm_repeat_gt_cfg is not None:
        return 'perm_repeat_gt_cfg'
    if type(sampler) is not PseudoSampler:
        return f'sampler {type(sampler).__name__}'
    if head.reg_decoded_bbox:
        return 'reg_decoded_bbox=True'
    return None


@MODELS.register_module()
class BatchedRetinaHead(RetinaHead):
    """``RetinaHead`` whose ``loss_by_feat`` assigns anchors and computes the losses for the
    whole batch in one pass (see the module docstring); arguments are ``RetinaHead``'s."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: Why the per-image path is used (None: the batched one is).
        self.per_image_reason = _batched_path_refusal(self)

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        if self.per_image_reason is not None or self._ignores_instances(batch_gt_instances_ignore):
            return super().loss_by_feat(cls_scores, bbox_preds, batch_gt_instances,
                                        batch_img_metas, batch_gt_instances_ignore)
        featmap_sizes = [score.shape[-2:] for score in cls_scores]
        device = cls_scores[0].device
        anchors = torch.cat(self.prior_generator.grid_priors(featmap_sizes, device=device))
        valid = self._valid_anchors(anchors, featmap_sizes, batch_img_metas, device)
        labels, label_weights, box_targets, box_weights, avg_factor = self._batch_targets(
            anchors, valid, batch_gt_instances)

        num_imgs = len(batch_img_metas)
        cls_score = torch.cat([s.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.cls_out_channels)
                               for s in cls_scores], 1)
        bbox_pred = torch.cat([p.permute(0, 2, 3, 1).reshape(num_imgs, -1,
                                                             self.bbox_coder.encode_size)
                               for p in bbox_preds], 1)
        loss_cls = self.loss_cls(cls_score.reshape(-1, self.cls_out_channels),
                                 labels.reshape(-1), label_weights.reshape(-1),
                                 avg_factor=avg_factor)
        loss_bbox = self.loss_bbox(bbox_pred.reshape(-1, bbox_pred.size(-1)),
                                   box_targets.reshape(-1, box_targets.size(-1)),
                                   box_weights.reshape(-1, box_weights.size(-1)),
                                   avg_factor=avg_factor)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)

    def _ignores_instances(self, batch_gt_instances_ignore: OptInstanceList) -> bool:
        """Whether the assigner would ignore anchors over some of these instances."""
        return (self.assigner.ignore_iof_thr > 0 and batch_gt_instances_ignore is not None
                and any(len(instances) > 0 for instances in batch_gt_instances_ignore))

    def _valid_anchors(self, anchors: Tensor, featmap_sizes: list, batch_img_metas: List[dict],
                       device: torch.device) -> Tensor:
        """(B, N) bool: the anchors each image's assigner sees (mmdet's valid flags of the padded
        shape, then ``allowed_border``), computed once per distinct image and padded shape."""
        flags_by_shape = {}
        rows = []
        for meta in batch_img_metas:
            key = (tuple(meta['pad_shape'][:2]), tuple(meta['img_shape'][:2]))
            if key not in flags_by_shape:
                valid = torch.cat(self.prior_generator.valid_flags(featmap_sizes, key[0],
                                                                   device=device))
                flags_by_shape[key] = anchor_inside_flags(anchors, valid, key[1],
                                                          self.train_cfg['allowed_border'])
            rows.append(flags_by_shape[key])
        valid = torch.stack(rows)
        if not valid.any(1).all():
            raise ValueError(
                'There is no valid anchor inside the image boundary. Please check the image '
                'size and anchor sizes, or set ``allowed_border`` to -1 to skip the condition.')
        return valid

    def _batch_targets(self, anchors: Tensor, valid: Tensor,
                       batch_gt_instances: InstanceList) -> Tuple[Tensor, ...]:
        """mmdet's MaxIoUAssigner + PseudoSampler + box encoding for all images at once.

        Returns (B, N) labels (``num_classes`` = background) and label weights, (B, N, 4) box
        targets and weights, and the losses' ``avg_factor`` (mmdet's: the sum over images of
        their positive anchors, at least 1 each)."""
        assigner = self.assigner
        num_imgs, num_anchors = valid.shape
        num_gts = [len(instances) for instances in batch_gt_instances]
        max_gts = max(max(num_gts), 1)
        gt_boxes = anchors.new_zeros(num_imgs, max_gts, 4)
        gt_labels = torch.full((num_imgs, max_gts), self.num_classes, dtype=torch.long,
                               device=anchors.device)
        for i, instances in enumerate(batch_gt_instances):
            gt_boxes[i, :num_gts[i]] = get_box_tensor(instances.bboxes)
            gt_labels[i, :num_gts[i]] = instances.labels
        is_gt = (torch.arange(max_gts, device=anchors.device)[None]
                 < torch.tensor(num_gts, device=anchors.device)[:, None])       # (B, G)

        overlaps = bbox_overlaps(gt_boxes, anchors.expand(num_imgs, -1, -1))    # (B, G, N)
        # Padding objects overlap nothing (an image without objects: all anchors negative);
        # anchors outside the valid set are not the assigner's (mmdet drops them first).
        overlaps = overlaps.masked_fill(~is_gt[:, :, None], 0.0)
        overlaps = overlaps.masked_fill(~valid[:, None, :], -1.0)
        max_overlaps, argmax_overlaps = overlaps.max(dim=1)                     # (B, N)
        assigned = torch.full_like(argmax_overlaps, -1)
        neg_thr = assigner.neg_iou_thr
        low, high = (0.0, neg_thr) if isinstance(neg_thr, float) else neg_thr
        assigned[(max_overlaps >= low) & (max_overlaps < high)] = 0
        positive = max_overlaps >= assigner.pos_iou_thr
        assigned = torch.where(positive, argmax_overlaps + 1, assigned)
        if assigner.match_low_quality:
            # Every anchor at an object's best IoU goes to that object, later objects winning
            # ties, as mmdet's loop over the objects does.
            gt_max = overlaps.max(dim=2, keepdim=True).values                  # (B, G, 1)
            best = ((overlaps == gt_max) & (gt_max >= assigner.min_pos_iou)
                    & is_gt[:, :, None] & valid[:, None, :])
            order = torch.arange(1, max_gts + 1, device=anchors.device)[None, :, None]
            last_best = (best * order).max(dim=1).values                        # (B, N), 0: none
            assigned = torch.where(last_best > 0, last_best, assigned)
        # mmdet: an image without objects has only negatives, whatever the thresholds.
        assigned = assigned.masked_fill(~is_gt.any(1, keepdim=True), 0)
        assigned = assigned.masked_fill(~valid, -1)

        pos = assigned > 0
        neg = assigned == 0
        gt_index = (assigned - 1).clamp(min=0)
        labels = torch.where(pos, gt_labels.gather(1, gt_index), self.num_classes)
        pos_weight = self.train_cfg['pos_weight']
        label_weights = (neg | pos).to(anchors.dtype)
        if pos_weight > 0:
            label_weights = torch.where(pos, float(pos_weight), label_weights)
        matched = gt_boxes.gather(1, gt_index[..., None].expand(-1, -1, 4))
        box_targets = anchors.new_zeros(num_imgs, num_anchors, self.bbox_coder.encode_size)
        box_targets[pos] = self.bbox_coder.encode(anchors.expand(num_imgs, -1, -1)[pos],
                                                  matched[pos])
        box_weights = pos[..., None].expand_as(box_targets).to(anchors.dtype)
        # mmdet's avg_factor: the positives of each image, at least one per image.
        avg_factor = int(pos.sum(1).clamp(min=1).sum())
        return labels, label_weights, box_targets, box_weights, avg_factor
