"""Training curves: :mod:`emo_mm.analysis.curves` on hand-written scalars.json files of two runs
(which run dir is read, which keys and axes are drawn, the legend, a valid PNG),
tools/analysis/plot_curves.py's one-line errors, :class:`~emo_mm.engine.PlotCurvesHook` never
failing a run, and one tiny training run of the classifier demo with ``--tensorboard`` that
leaves curves.png and a TensorBoard events file."""
import importlib.util
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import CLS_DEMO, run_tool
from mmengine.config import Config
from mmengine.visualization import LocalVisBackend
from PIL import Image

from emo_mm.analysis import CurvesError, curves_figure, default_keys, load_runs, plot_curves
from emo_mm.cli import ToolError
from emo_mm.cli.plot_curves import plot_curves_main
from emo_mm.cli.train import enable_tensorboard
from emo_mm.engine import PlotCurvesHook, curves_hook

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def train_record(it: int, epoch: int, loss: float) -> dict:
    """A training record as mmengine's LoggerHook writes it (by-epoch log processor)."""
    return dict(lr=1e-3, data_time=0.01, loss=loss, loss_cls=loss * 0.6, loss_bbox=loss * 0.4,
                time=0.5, epoch=epoch, iter=it, memory=0, step=it)


def val_record(epoch: int, m_ap: float) -> dict:
    return {'coco/bbox_mAP': m_ap, 'coco/bbox_mAP_50': m_ap + 0.2, 'data_time': 0.01,
            'time': 0.2, 'step': epoch}


def write_run(work_dir: Path, timestamp: str, records: list, tail: str = '') -> Path:
    path = work_dir / timestamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)
    return path


@pytest.fixture
def two_runs(tmp_path) -> tuple:
    """Work dirs ``run_a`` (two runs: an older one of other numbers, then a 2-epoch run with a
    half-written last line) and ``run_b`` (3 epochs)."""
    a, b = tmp_path / 'run_a', tmp_path / 'run_b'
    write_run(a, '20250101_000000', [train_record(5, 1, 9.0), val_record(1, 0.9)])
    write_run(a, '20250102_000000',
              [train_record(5, 1, 2.0), train_record(10, 1, 1.5), val_record(1, 0.10),
               train_record(15, 2, 1.2), train_record(20, 2, 1.0), val_record(2, 0.25)],
              tail='{"lr": 0.001, "loss"')
    (a / '20250103_000000' / 'vis_data').mkdir(parents=True)   # a test run: no scalars
    write_run(b, '20250105_120000',
              [train_record(10 * e, e, 2.0 / e) for e in (1, 2, 3)]
              + [val_record(e, 0.1 * e) for e in (1, 2, 3)])
    return a, b


def test_reads_the_newest_run_of_each_work_dir(two_runs):
    a, b = two_runs
    run_a, run_b = load_runs([a, b])
    assert (run_a.name, run_b.name) == ('run_a', 'run_b')
    assert Path(run_a.path).parts[-3] == '20250102_000000'   # newest with scalars, not 0103
    assert [r['loss'] for r in run_a.train] == [2.0, 1.5, 1.2, 1.0]   # truncated line skipped
    assert [r['step'] for r in run_a.val] == [1, 2] and run_a.val_by_epoch
    assert default_keys([run_a, run_b]) == ['loss', 'coco/bbox_mAP', 'coco/bbox_mAP_50']
    # a run dir and the scalars file itself name the run after its work dir too
    assert load_runs([a / '20250102_000000'])[0].name == 'run_a'
    assert load_runs([a / '20250102_000000' / 'vis_data'])[0].name == 'run_a'
    assert load_runs([run_b.path])[0].name == 'run_b'


def test_figure_has_a_subplot_per_key_and_a_legend_entry_per_run(two_runs):
    runs = load_runs(list(two_runs), legend=['baseline', 'longer'])
    fig = curves_figure(runs, ['loss', 'coco/bbox_mAP', 'val/time'])
    loss, m_ap, val_time = fig.axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ['baseline', 'longer']
    assert [t.get_text() for t in m_ap.get_legend().get_texts()] == ['baseline', 'longer']
    assert loss.get_xlabel() == 'iteration' and m_ap.get_xlabel() == 'epoch'
    assert list(loss.get_lines()[0].get_xdata()) == [5, 10, 15, 20]
    assert list(m_ap.get_lines()[1].get_ydata()) == pytest.approx([0.1, 0.2, 0.3])
    assert 'validation' in val_time.get_title()   # val/ picks the validation 'time'


def test_plot_curves_writes_a_valid_png(two_runs, tmp_path):
    out = plot_curves(list(two_runs), tmp_path / 'pics' / 'curves.png')
    assert Path(out).read_bytes()[:8] == PNG_MAGIC
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == 'PNG' and image.width >= 1000 and image.height >= 300


def test_library_errors_name_the_problem(two_runs, tmp_path):
    with pytest.raises(CurvesError, match='work dir not found'):
        load_runs([tmp_path / 'nope'])
    with pytest.raises(CurvesError, match='2 legend entries for 1 runs'):
        load_runs([two_runs[0]], legend=['x', 'y'])
    with pytest.raises(CurvesError, match=r"unknown key 'mAP'.*training keys: lr, data_time, "
                       r'loss.*validation keys: coco/bbox_mAP, coco/bbox_mAP_50'):
        curves_figure(load_runs([two_runs[0]]), ['mAP'])


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> str:
    """Exit code 2, no traceback, one ``plot_curves.py: error:`` line holding ``fragments``."""
    assert code == 2, stderr[-3000:]
    assert 'Traceback' not in stderr, stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('plot_curves.py: error: '), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_tool_entry_point_plots_two_runs_and_prints_the_image(two_runs, tmp_path, capsys):
    out = tmp_path / 'cmp.png'
    argv = [*map(str, two_runs), '--keys', 'loss', 'coco/bbox_mAP', '--legend', 'A', 'B',
            '--out', str(out)]
    assert plot_curves_main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.e2e
def test_tool_process_lists_the_keys_there_are_for_an_unknown_key(two_runs):
    result = run_tool('analysis/plot_curves.py', two_runs[0], '--keys', 'bbox_mAP')
    assert_one_line_error(result.returncode, result.stderr, "unknown key 'bbox_mAP'",
                          'training keys: lr, data_time, loss',
                          'validation keys: coco/bbox_mAP, coco/bbox_mAP_50, data_time, time')


@pytest.mark.parametrize('case', ['missing', 'no_scalars', 'unknown_key', 'legend', 'format'])
def test_tool_errors_are_one_line(case, two_runs, tmp_path, capsys):
    """The tool's entry point in-process (the lines the tool's process prints, as above)."""
    (tmp_path / 'empty' / '20250101_000000' / 'vis_data').mkdir(parents=True)
    argv, fragments = {
        'missing': ([tmp_path / 'missing'], ['work dir not found: ', 'missing']),
        'no_scalars': ([tmp_path / 'empty'], ['no vis_data/scalars.json in ', 'empty']),
        'unknown_key': ([*two_runs, '--keys', 'loss', 'mIoU'],
                        ["unknown key 'mIoU' in the scalars of 2 runs", 'training keys: lr']),
        'legend': ([*two_runs, '--legend', 'one'], ['1 legend entries for 2 runs']),
        'format': ([two_runs[0], '--out', tmp_path / 'c.nope'], ['cannot write ', 'c.nope']),
    }[case]
    code = plot_curves_main([str(arg) for arg in argv])
    assert_one_line_error(code, capsys.readouterr().err, *fragments)


def fake_runner(tmp_path: Path, scalars_text: str) -> SimpleNamespace:
    """Just what PlotCurvesHook reads of a runner: its visualizer's LocalVisBackend."""
    log_dir = tmp_path / 'work' / '20250101_000000'
    backend = LocalVisBackend(save_dir=str(log_dir / 'vis_data'))
    (log_dir / 'vis_data').mkdir(parents=True)
    (log_dir / 'vis_data' / 'scalars.json').write_text(scalars_text)
    visualizer = SimpleNamespace(_vis_backends={'LocalVisBackend': backend})
    return SimpleNamespace(visualizer=visualizer, log_dir=str(log_dir),
                           work_dir=str(tmp_path / 'work'))


def test_hook_plots_after_training_and_only_warns_when_it_cannot(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(curves_hook, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    good = fake_runner(tmp_path / 'good', json.dumps(train_record(1, 1, 1.0)) + '\n'
                       + json.dumps(val_record(1, 0.5)) + '\n')
    hook = PlotCurvesHook()
    hook.after_run(good)   # no training happened (tools/test.py): nothing drawn
    assert hook.written is None and not Path(good.log_dir, 'curves.png').exists()
    hook.before_train(good)
    hook.after_run(good)
    assert hook.written == str(Path(good.log_dir) / 'curves.png')
    assert Path(hook.written).read_bytes()[:8] == PNG_MAGIC
    for text in ('', 'not json\n{"lr": 1}\n'):   # nothing logged; a corrupt file
        bad = fake_runner(tmp_path / f'bad{len(text)}', text)
        hook = PlotCurvesHook(keys=['loss'])
        hook.before_train(bad)
        hook.after_run(bad)   # must not raise
        assert hook.written is None
        level, message = logged[-1]
        assert level == logging.WARNING and 'could not plot the curves' in message


def test_tensorboard_option_adds_the_backend_once_or_says_what_is_missing(monkeypatch):
    cfg = Config.fromfile(str(CLS_DEMO))
    enable_tensorboard(cfg)
    enable_tensorboard(cfg)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend',
                                                                  'TensorboardVisBackend']
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'tensorboard' else find_spec(name, *a))
    with pytest.raises(ToolError, match='--tensorboard needs the tensorboard package'):
        enable_tensorboard(Config.fromfile(str(CLS_DEMO)))


@pytest.mark.e2e
def test_demo_training_writes_curves_and_tensorboard_events(tmp_path):
    """The classifier demo (PlotCurvesHook from the CPU demos' base) for 2 epochs of one
    iteration on 4 crops, validated after each, with --tensorboard."""
    work_dir = tmp_path / 'work'
    options = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=1',
               'train_dataloader.drop_last=False', 'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader'):
        options += [f'{loader}.dataset.data_root={tmp_path / "shapes"}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
        options += [f'{loader}.dataset.generator.{k}={v}'
                    for k, v in dict(num_train=4, num_val=2, img_size=64).items()]
    result = run_tool('train.py', CLS_DEMO, '--work-dir', work_dir, '--tensorboard',
                      '--cfg-options', *options, check=True)
    (run_dir, ) = [p for p in work_dir.iterdir() if p.is_dir()]
    curves = run_dir / 'curves.png'
    assert f'Curves: {curves}' in result.stdout
    assert f"TensorBoard: tensorboard --logdir {run_dir / 'vis_data'}" in result.stdout
    with Image.open(curves) as image:
        image.verify()
    (run, ) = load_runs([work_dir])
    assert [r['step'] for r in run.train] == [1, 2] and [r['step'] for r in run.val] == [1, 2]
    assert default_keys([run]) == ['loss', 'accuracy/top1']
    (events, ) = (run_dir / 'vis_data').glob('events.out.tfevents.*')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert {'loss', 'accuracy/top1'} <= set(accumulator.Tags()['scalars'])
    assert [e.step for e in accumulator.Scalars('loss')] == [1, 2]
