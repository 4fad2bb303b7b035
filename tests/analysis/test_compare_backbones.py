"""tools/analysis/compare_backbones.py on tiny runs: ``train`` runs two comparison configs one
after the other with a progress line each; ``table`` reads their work dirs into the markdown
table, JSON and plot, with the metric each run logged; missing runs give one clear line."""
import json

import pytest
from helpers import REPO_ROOT, SMALL_SHAPES, run_tool

from emo_mm.analysis.results import read_run_metrics

pytestmark = pytest.mark.e2e   # runs the tool, which runs tools/train.py, as processes

CONFIGS = [REPO_ROOT / 'configs/cls/demo/compare/mobilenetv3_small_shapes.py',
           REPO_ROOT / 'configs/cls/demo/compare/emov1_1m_shapes.py']


def tiny_options(data_root) -> list:
    options = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
               'train_dataloader.batch_size=8']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
        options += [f'{loader}.dataset.generator.{key}={value}'
                    for key, value in SMALL_SHAPES.items()]
    return options


def test_train_then_table(tmp_path, small_shapes_root):
    work_root = tmp_path / 'runs'
    options = ['--work-root', work_root, '--cfg-options', *tiny_options(small_shapes_root)]
    trained = run_tool('analysis/compare_backbones.py', 'train', *CONFIGS, *options, check=True)
    assert '[1/2] mobilenetv3_small_shapes.py: done in' in trained.stdout
    assert '[2/2] emov1_1m_shapes.py: done in' in trained.stdout
    again = run_tool('analysis/compare_backbones.py', 'train', *CONFIGS, *options,
                     '--skip-finished', check=True)
    assert again.stdout.count('already finished') == 2

    out, rows_json, png = tmp_path / 'cmp.md', tmp_path / 'cmp.json', tmp_path / 'cmp.png'
    run_tool('analysis/compare_backbones.py', 'table', *CONFIGS, *options,
             '--runs', 2, '--warmup', 1, '--out', out, '--json', rows_json, '--png', png,
             check=True)
    table = out.read_text()
    rows = {row['name']: row for row in json.loads(rows_json.read_text())['rows']}
    assert set(rows) == {'mobilenetv3_small_shapes', 'emov1_1m_shapes'}
    for name, row in rows.items():
        logged = read_run_metrics(str(work_root / name)).values['accuracy/top1'][-1]
        assert row['metric'] == 'accuracy/top1' and row['value'] == logged
        assert row['latency_ms'] > 0 and row['train_s'] > 0 and row['params'] > 0
        assert f'| {name} | {row["params"] / 1e6:.2f}M |' in table
    assert png.stat().st_size > 10_000

    # The same runs judged against a 2-epoch schedule stopped early: not finished, not tabled.
    longer = ['--cfg-options', *tiny_options(small_shapes_root)[1:], 'train_cfg.max_epochs=2']
    early = run_tool('analysis/compare_backbones.py', 'table', *CONFIGS, '--work-root',
                     work_root, *longer)
    assert early.returncode == 2
    lines = early.stderr.strip().splitlines()
    assert len(lines) == 1 and 'no finished run for 2 config(s)' in lines[0]
    assert 'stopped early: its last validation was at epoch 1 of 2' in lines[0]


def test_table_without_runs_says_what_to_do(tmp_path):
    result = run_tool('analysis/compare_backbones.py', 'table', *CONFIGS,
                      '--work-root', tmp_path / 'none')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'no finished run for 2 config(s)' in lines[0]
    assert 'compare_backbones.py train' in lines[0]


@pytest.mark.parametrize('option', [('--runs', 0), ('--threads', -1), ('--warmup', -1)])
def test_table_rejects_bad_timing_options(tmp_path, option):
    result = run_tool('analysis/compare_backbones.py', 'table', *CONFIGS, *option,
                      '--work-root', tmp_path / 'none')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and '--runs must be >= 1' in lines[0]
