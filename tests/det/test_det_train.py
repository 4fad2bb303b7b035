"""2-iteration train + validation of RetinaNet, SSDLite and Mask R-CNN through tools/train.py on a
tiny generated shapes set, and tools/test.py --out on the result."""
import pickle

import pytest
from helpers import DEMOS, newest_log, run_tool, tiny_shapes_options

pytestmark = pytest.mark.e2e   # runs the tools as processes

DETECTORS = ('mask_rcnn', 'retinanet', 'ssdlite')


def short_run_options(data_root) -> list:
    return [
        '--cfg-options', *tiny_shapes_options(data_root),
        f'val_evaluator.ann_file={data_root}/annotations/instances_val.json',
        f'test_evaluator.ann_file={data_root}/annotations/instances_val.json',
        'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
    ]


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    return tmp_path_factory.mktemp('shapes') / 'data'


@pytest.mark.parametrize('name', DETECTORS)
def test_two_iteration_train_and_val(name, shapes_root, tmp_path):
    config = DEMOS[name][0]
    work_dir = tmp_path / 'work'
    result = run_tool('train.py', config, '--work-dir', work_dir, *short_run_options(shapes_root))
    assert result.returncode == 0, result.stderr[-3000:]
    log = newest_log(work_dir)
    assert 'Epoch(train) [1][2/2]' in log
    # Two iterations from scratch may detect nothing yet; validation must still have run.
    assert 'Epoch(val) [1][1/1]' in log
    assert (work_dir / 'epoch_1.pth').exists()
    assert list(work_dir.glob('*/vis_data/scalars.json'))

    if name == 'retinanet':
        out = tmp_path / 'results.pkl'
        result = run_tool('test.py', config, work_dir / 'epoch_1.pth', '--work-dir', tmp_path / 'test',
                          '--out', out, '--show-dir', 'show', *short_run_options(shapes_root))
        assert result.returncode == 0, result.stderr[-3000:]
        with open(out, 'rb') as f:
            predictions = pickle.load(f)
        assert len(predictions) == 2 and 'pred_instances' in predictions[0]
        assert len(list((tmp_path / 'test').glob('*/show/*.png'))) == 2
