"""Which run counts as finished: :func:`emo_mm.analysis.results.read_run_metrics` records where
the last validation came, and :func:`~emo_mm.analysis.results.unfinished_reason` says why a run
stopped before its config's last epoch / iteration (hand-written scalars.json files)."""
import json
from pathlib import Path

import pytest

from emo_mm.analysis.results import (RunLogError, read_run_metrics, training_length,
                                     unfinished_reason)


def write_scalars(work_dir: Path, timestamp: str, val_steps: list) -> None:
    path = work_dir / timestamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    records = []
    for step in val_steps:
        records.append(dict(lr=1e-3, loss=1.0 / step, epoch=step, iter=10 * step, step=10 * step))
        records.append({'accuracy/top1': 50.0 + step, 'data_time': 0.01, 'time': 0.1,
                        'step': step})
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def test_last_validation_position_is_read(tmp_path):
    write_scalars(tmp_path, '20260101_000000', [1, 2, 3])
    metrics = read_run_metrics(str(tmp_path))
    assert metrics.evaluated_at == 3
    assert metrics.values['accuracy/top1'] == [51.0, 52.0, 53.0]


@pytest.mark.parametrize('train_cfg, length', [
    (dict(type='EpochBasedTrainLoop', max_epochs=26, val_interval=2), ('epoch', 26)),
    (dict(type='IterBasedTrainLoop', max_iters=1500, val_interval=500), ('iteration', 1500)),
    (dict(by_epoch=True, max_epochs=3), ('epoch', 3)),
    ({}, None), (None, None)])
def test_training_length(train_cfg, length):
    assert training_length(train_cfg) == length


def test_a_run_stopped_early_is_not_finished(tmp_path):
    write_scalars(tmp_path, '20260101_000000', [1, 2])
    metrics = read_run_metrics(str(tmp_path))
    reason = unfinished_reason(metrics, ('epoch', 5))
    assert 'stopped early' in reason and 'epoch 2 of 5' in reason and '--resume' in reason
    assert unfinished_reason(metrics, ('epoch', 2)) is None
    assert unfinished_reason(metrics, None) is None


def test_the_newest_validated_run_is_the_one_judged(tmp_path):
    """A finished run followed by a newer crashed one: the crashed one is what a table would
    show, so the work dir does not count as finished (no silent fallback to the older run)."""
    write_scalars(tmp_path, '20260101_000000', [1, 2, 3])
    write_scalars(tmp_path, '20260102_000000', [1])
    metrics = read_run_metrics(str(tmp_path))
    assert metrics.run_dir.endswith('20260102_000000')
    assert 'epoch 1 of 3' in unfinished_reason(metrics, ('epoch', 3))


def test_a_test_run_has_no_position(tmp_path):
    run = tmp_path / '20260101_000000'
    run.mkdir()
    (run / '20260101_000000.json').write_text(json.dumps({'accuracy/top1': 70.0}))
    metrics = read_run_metrics(str(tmp_path))
    assert metrics.evaluated_at is None
    assert unfinished_reason(metrics, ('epoch', 300)) is None


def test_no_validation_at_all_is_an_error(tmp_path):
    (tmp_path / '20260101_000000' / 'vis_data').mkdir(parents=True)
    with pytest.raises(RunLogError, match='did the run reach its first validation'):
        read_run_metrics(str(tmp_path))
