"""A one-stage detector's whole prediction as one traceable module: heads, box decoding, score
threshold and class-aware NMS, with fixed-size outputs, so an ONNX file holds all of it.

mmdet's ``predict`` filters with data-dependent shapes and calls mmcv's C++ NMS, which ONNX
exporters cannot follow. :class:`DetectionsOf` computes the same thing
(``BaseDenseHead._predict_by_feat_single`` and ``_bbox_post_process``, boxes in the input's
pixels) from tensor operations and one custom op, ``emo_mm::nms``, which runs torchvision's NMS
in PyTorch and exports as ONNX ``NonMaxSuppression`` (:data:`ONNX_TRANSLATIONS`).
"""
from typing import Tuple

import torch
import torch.nn as nn
import torchvision

__all__ = ['DetectionsOf', 'ONNX_TRANSLATIONS', 'is_one_stage_detector', 'match_detections', 'nms']


@torch.library.custom_op('emo_mm::nms', mutates_args=())
def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
        score_threshold: float) -> torch.Tensor:
    """NMS of each image of a batch (``boxes`` ``(N, M, 4)`` as x1, y1, x2, y2, ``scores``
    ``(N, M)``) among the boxes scoring above ``score_threshold``: the kept boxes as rows
    ``(image, box index)`` of an ``(S, 2)`` int64 tensor, as ONNX ``NonMaxSuppression`` selects."""
    selected = []
    for i in range(boxes.shape[0]):
        candidates = (scores[i] > score_threshold).nonzero().flatten()
        keep = candidates[torchvision.ops.nms(boxes[i, candidates], scores[i, candidates],
                                              iou_threshold)]
        selected.append(torch.stack([torch.full_like(keep, i), keep], dim=1))
    return torch.cat(selected) if selected else boxes.new_empty((0, 2), dtype=torch.int64)


@nms.register_fake
def _nms_shape(boxes, scores, iou_threshold, score_threshold):
    count = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((count, 2), dtype=torch.int64)


def _nms_onnx(boxes, scores, iou_threshold: float, score_threshold: float):
    from onnxscript import opset18 as op
    selected = op.NonMaxSuppression(
        boxes, op.Unsqueeze(scores, [1]), op.Constant(value_ints=[2**31 - 1]),
        op.Constant(value_floats=[iou_threshold]), op.Constant(value_floats=[score_threshold]))
    return op.Gather(selected, op.Constant(value_ints=[0, 2]), axis=1)  # (image, class, box)


#: ``custom_translation_table`` entries for ``torch.onnx.export(..., dynamo=True)``.
ONNX_TRANSLATIONS = {torch.ops.emo_mm.nms.default: _nms_onnx}


def is_one_stage_detector(model: nn.Module) -> bool:
    """An mmdet detector whose ``bbox_head`` predicts boxes from anchors (RetinaNet, SSD)."""
    head = getattr(model, 'bbox_head', None)
    return (not hasattr(model, 'roi_head') and head is not None
            and hasattr(head, 'prior_generator') and hasattr(head, 'bbox_coder'))


class DetectionsOf(nn.Module):
    """``model.predict`` of a one-stage mmdet detector on a normalised batch, as ``m(x)``:
    ``boxes (N, K, 4)`` (x1, y1, x2, y2 in the input's pixels), ``scores (N, K)``,
    ``labels (N, K)`` and ``num_detections (N,)``; rows past an image's count are zeros, and
    ``K`` is ``test_cfg.max_per_img``. Per level the ``nms_pre`` best (anchor, class) scores
    above ``score_thr`` are decoded, then class-aware NMS keeps the best ``K`` over all
    levels, as mmdet does."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not is_one_stage_detector(model):
            raise TypeError(f'{type(model).__name__} is not a one-stage anchor detector')
        self.model = model
        cfg = model.bbox_head.test_cfg
        self.score_thr = float(cfg.get('score_thr', 0.0))
        self.nms_pre = int(cfg.get('nms_pre', -1))
        self.iou_thr = float(cfg['nms']['iou_threshold'])
        self.max_per_img = int(cfg['max_per_img'])
        self.min_bbox_size = float(cfg.get('min_bbox_size', -1))

    @staticmethod
    def output_names() -> Tuple[str, ...]:
        return ('boxes', 'scores', 'labels', 'num_detections')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        head = self.model.bbox_head
        cls_scores, bbox_preds = head(self.model.extract_feat(x))
        priors = head.prior_generator.grid_priors([c.shape[-2:] for c in cls_scores],
                                                  dtype=x.dtype, device=x.device)
        n, img_shape = x.shape[0], tuple(x.shape[-2:])
        scores, labels, boxes = [], [], []
        for cls_score, bbox_pred, level_priors in zip(cls_scores, bbox_preds, priors):
            cls_score = cls_score.permute(0, 2, 3, 1).reshape(n, -1, head.cls_out_channels)
            if head.use_sigmoid_cls:
                level_scores = cls_score.sigmoid()
            else:
                level_scores = cls_score.softmax(-1)[..., :-1]
            num_classes = level_scores.shape[-1]
            flat = level_scores.reshape(n, -1)                     # (anchor, class) pairs
            count = flat.shape[1]
            if self.nms_pre > 0:
                count = torch.sym_min(self.nms_pre, count)   # symbolic under export
            top, index = flat.topk(count, dim=1)   # sorted; those under score_thr NMS drops
            anchor = index // num_classes
            size = head.bbox_coder.encode_size
            deltas = bbox_pred.permute(0, 2, 3, 1).reshape(n, -1, size)
            deltas = deltas.gather(1, anchor[..., None].expand(-1, -1, size))
            decoded = head.bbox_coder.decode(level_priors[anchor].reshape(-1, 4),
                                             deltas.reshape(-1, size), max_shape=img_shape)
            boxes.append(decoded.reshape(n, -1, 4))
            scores.append(top)
            labels.append(index % num_classes)
        boxes, scores, labels = torch.cat(boxes, 1), torch.cat(scores, 1), torch.cat(labels, 1)
        if self.min_bbox_size >= 0:
            wide = ((boxes[..., 2] - boxes[..., 0]) > self.min_bbox_size) & (
                (boxes[..., 3] - boxes[..., 1]) > self.min_bbox_size)
            scores = torch.where(wide, scores, torch.full_like(scores, -1.0))
        # Class-aware NMS in one call: per image, boxes of different classes are moved apart
        # (mmdet's batched_nms does the same).
        offsets = labels.to(boxes.dtype) * (boxes.amax(dim=(1, 2)) + 1)[:, None]
        selected = nms(boxes + offsets[..., None], scores, self.iou_thr, self.score_thr)
        image, kept = selected[:, 0], selected[:, 1]
        k = self.max_per_img
        # The kept scores in place, -1 elsewhere and in K padding columns; the K best of each
        # image are its detections: fixed output shapes, with the count of real rows.
        kept_scores = scores.new_full((n, scores.shape[1] + k), -1.0).index_put(
            (image, kept), scores[image, kept])
        best, order = kept_scores.topk(k, dim=1)
        real = best > -1.0
        index = torch.where(real, order, torch.zeros_like(order))
        picked = boxes.gather(1, index[..., None].expand(-1, -1, 4))
        out_boxes = torch.where(real[..., None], picked, torch.zeros_like(picked))
        out_scores = torch.where(real, best, torch.zeros_like(best))
        out_labels = torch.where(real, labels.gather(1, index), torch.zeros_like(index))
        return out_boxes, out_scores, out_labels, real.sum(1)


def match_detections(got, expected, min_iou: float = 0.99, score_tol: float = 1e-4) -> str:
    """Check that two :class:`DetectionsOf` outputs (tensors or arrays, in the order of
    :meth:`DetectionsOf.output_names`) hold the same detections: per image the same count,
    and every expected detection has one of the same label with IoU >= ``min_iou`` and a
    score within ``score_tol``. Returns a summary; raises ValueError naming the first
    mismatch."""
    got = [torch.as_tensor(a) for a in got]
    expected = [torch.as_tensor(a) for a in expected]
    total, worst_iou, worst_score = 0, 1.0, 0.0
    for i in range(expected[0].shape[0]):
        n, m = int(expected[3][i]), int(got[3][i])
        if n != m:
            raise ValueError(f'image {i}: {m} detections, expected {n}')
        if n == 0:
            continue
        want_boxes, want_scores, want_labels = (t[i, :n] for t in expected[:3])
        have_boxes, have_scores, have_labels = (t[i, :n] for t in got[:3])
        iou = torchvision.ops.box_iou(want_boxes.float(), have_boxes.float())
        close = ((want_labels[:, None] == have_labels[None]) &
                 ((want_scores[:, None] - have_scores[None]).abs() <= score_tol))
        iou = torch.where(close, iou, torch.zeros_like(iou))
        taken = torch.zeros(n, dtype=torch.bool)
        for j in range(n):
            candidates = torch.where(taken, torch.zeros_like(iou[j]), iou[j])
            best = int(candidates.argmax())
            if candidates[best] < min_iou:
                raise ValueError(
                    f'image {i}: detection {j} (label {int(want_labels[j])}, score '
                    f'{float(want_scores[j]):.4f}, box {want_boxes[j].tolist()}) has no match '
                    f'of the same label with IoU >= {min_iou} and a score within {score_tol}')
            taken[best] = True
            worst_iou = min(worst_iou, float(candidates[best]))
            worst_score = max(worst_score, float((want_scores[j] - have_scores[best]).abs()))
        total += n
    return (f'{total} detections matched (lowest IoU {worst_iou:.6f}, largest score difference '
            f'{worst_score:.2g})')
