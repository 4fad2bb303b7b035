"""The model zoo (model-index.yml, configs/*/metafile.yml, docs/model_zoo.md) agrees with the
configs, and the tools that read it (get_flops, check_results, model_zoo) work on real runs."""
import glob
import json
import os.path as osp

import pytest
import yaml
from helpers import PROBE_ENV, REPO_ROOT, cls_demo_config, run_tool
from mmengine.config import Config

from emo_mm.analysis.model_index import (METRIC_KEYS, ModelIndexError, load_collections,
                                         load_model_index)
from emo_mm.cli.get_flops import config_complexity, paper_configs
from emo_mm.cli.model_zoo import model_zoo_markdown

INDEX = str(REPO_ROOT / 'model-index.yml')
MODELS = load_model_index(INDEX)
BY_NAME = {m.name: m for m in MODELS}


def test_every_paper_config_has_one_entry():
    configs = sorted(osp.relpath(p, REPO_ROOT) for p in paper_configs(str(REPO_ROOT / 'configs')))
    assert len(configs) == 47
    assert sorted(m.config for m in MODELS) == configs


def test_every_paper_row_has_its_results():
    published = [m for m in MODELS if m.results]
    # 7 ImageNet rows, 8 SSDLite, 4 RetinaNet, 4 Mask R-CNN, 16 ADE20K.
    assert len(published) == 39
    assert BY_NAME['emov2_5m_in1k_224'].metrics == {'Top 1 Accuracy': 79.4}
    assert BY_NAME['retinanet_emov2_5m'].metrics['box AP'] == 41.5
    assert BY_NAME['mask_rcnn_emov2_5m'].metrics['mask AP'] == 39.0
    assert BY_NAME['deeplabv3_emov2_5m_ade20k_512'].metrics['mIoU'] == 39.8
    for model in published:
        assert set(model.metrics) <= set(METRIC_KEYS)
        assert model.metadata['Log'] and model.metadata['Reported FLOPs']
    assert {m.weights for m in MODELS if m.weights} == {
        'EMOv2_1M_224.pth', 'EMOv2_1M_224_KD.pth', 'EMOv2_2M_224.pth', 'EMOv2_2M_224_KD.pth',
        'EMOv2_5M_224.pth', 'EMOv2_5M_224_KD.pth', 'EMOv2_5M_512_KD.pth'}


def test_collections_exist():
    collections = load_collections(INDEX)
    for model in MODELS:
        info = collections[model.collection]
        assert osp.isfile(REPO_ROOT / info['README'])


@pytest.mark.parametrize('name', sorted(BY_NAME))
def test_entry_states_what_the_config_has(name):
    """Schedule and batch as configured; parameters and FLOPs as counted now."""
    model = BY_NAME[name]
    cfg = Config.fromfile(str(REPO_ROOT / model.config))
    meta = model.metadata
    gpus = int(meta['Training Resources'].split('x')[0])
    assert meta['Batch Size'] == gpus * cfg.train_dataloader.batch_size
    if 'Epochs' in meta:
        assert meta['Epochs'] == cfg.train_cfg.max_epochs
    else:
        assert meta['Iterations'] == cfg.train_cfg.max_iters
    counted = config_complexity(str(REPO_ROOT / model.config), backbone=False)
    assert list(counted.input_shape[1:]) == meta['Input Size']
    assert counted.params == meta['Parameters']
    assert counted.flops == meta['FLOPs']


def test_model_zoo_doc_is_up_to_date():
    with open(REPO_ROOT / 'docs' / 'model_zoo.md', encoding='utf-8') as f:
        assert f.read() == model_zoo_markdown(INDEX), \
            'docs/model_zoo.md is stale: run python tools/analysis/model_zoo.py'
    assert run_tool('analysis/model_zoo.py', '--check').returncode == 0


def test_duplicate_names_are_an_error(tmp_path):
    entry = dict(Name='a', Config='configs/cls/emov2_1m_in1k_224.py')
    meta = tmp_path / 'metafile.yml'
    meta.write_text(yaml.safe_dump({'Models': [entry, entry]}))
    with pytest.raises(ModelIndexError, match='appears twice'):
        load_model_index(str(meta))


def test_get_flops_table_beside_the_paper(tmp_path):
    out = tmp_path / 'table.md'
    config = 'configs/seg/deeplabv3_emov2_1m_ade20k_512.py'
    result = run_tool('analysis/get_flops.py', config, '--out', out, check=True)
    row = next(line for line in out.read_text().splitlines() if config in line)
    model = BY_NAME['deeplabv3_emov2_1m_ade20k_512']
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[1] == '512x512'
    assert cells[4] == f'{model.metadata["Parameters"] / 1e6:.2f}M'
    assert cells[6:] == ['5.6M', '3.3G']
    assert row in result.stdout


@pytest.fixture(scope='module')
def tiny_cls_run(tmp_path_factory, small_shapes_root):
    """A 2-epoch classifier demo run (validation after each epoch) and its work dir."""
    tmp = tmp_path_factory.mktemp('check_results')
    config = cls_demo_config(tmp / 'cls_tiny.py', small_shapes_root, body="""\
train_cfg = dict(max_epochs=2, val_interval=1)
""")
    work_dir = tmp / 'work'
    run_tool('train.py', config, '--work-dir', work_dir, env=PROBE_ENV, check=True)
    return config, work_dir


def metafile_for(path, config, top1):
    path.write_text(yaml.safe_dump({'Models': [dict(
        Name='tiny', Config=str(config),
        Results=[dict(Task='Image Classification', Dataset='shapes',
                      Metrics={'Top 1 Accuracy': top1})])]}))
    return path


def test_check_results_on_a_finished_run(tiny_cls_run, tmp_path):
    config, work_dir = tiny_cls_run
    scalars = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))[0]
    top1 = [json.loads(line)['accuracy/top1'] for line in open(scalars)
            if 'accuracy/top1' in line]
    assert len(top1) == 2
    final = top1[-1]

    met = run_tool('analysis/check_results.py', work_dir, '--model-index',
                   metafile_for(tmp_path / 'meet.yml', config, final + 0.4))
    assert met.returncode == 0, met.stdout + met.stderr
    assert f'{final + 0.4:.2f}' in met.stdout and f'{final:.2f}' in met.stdout
    assert '-0.40' in met.stdout

    short = run_tool('analysis/check_results.py', work_dir, '--tolerance', '0.3',
                     '--model-index', metafile_for(tmp_path / 'short.yml', config, final + 0.4))
    assert short.returncode == 1, short.stdout + short.stderr
    assert 'FAIL' in short.stdout and 'below the expected results' in short.stdout

    best = run_tool('analysis/check_results.py', work_dir, '--reduce', 'best', '--tolerance', '0',
                    '--model-index', metafile_for(tmp_path / 'best.yml', config, max(top1)))
    assert best.returncode == 0, best.stdout + best.stderr


def test_check_results_bad_input(tiny_cls_run, tmp_path):
    config, work_dir = tiny_cls_run
    missing = run_tool('analysis/check_results.py', tmp_path / 'nowhere')
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f'check_results.py: error: work dir not found: {tmp_path / "nowhere"}']
    # The shipped index has no entry for the test's config: say so, and how to choose one.
    unknown = run_tool('analysis/check_results.py', work_dir)
    assert unknown.returncode == 2
    assert 'pass --model NAME' in unknown.stderr and 'Traceback' not in unknown.stderr
    corrupt = tmp_path / 'broken.yml'
    corrupt.write_text('Models: [\n')
    bad = run_tool('analysis/check_results.py', work_dir, '--model-index', corrupt)
    assert bad.returncode == 2 and 'is not valid YAML' in bad.stderr


def test_check_results_reads_a_test_run(tiny_cls_run, tmp_path):
    """After tools/test.py in the same work dir, the checked metrics are the test run's."""
    config, work_dir = tiny_cls_run
    checkpoint = sorted(work_dir.glob('epoch_*.pth'))[-1]
    run_tool('test.py', config, checkpoint, '--work-dir', work_dir, env=PROBE_ENV, check=True)
    test_log = sorted(work_dir.glob('*/*.json'))[-1]
    top1 = json.loads(test_log.read_text().splitlines()[-1])['accuracy/top1']
    result = run_tool('analysis/check_results.py', work_dir, '--tolerance', '0', '--model-index',
                      metafile_for(tmp_path / 'test.yml', config, top1))
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(test_log) in result.stdout
