"""What the tests share (the one module they import helpers from): running tools/*.py and the
launcher scripts as subprocesses from the repo root (the one way to run a tool), configs derived
from the shipped demos, official-layout checkpoints and the official classifier's logits, and
the official key lists."""
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from reference import randomize_

from emo_mm.models import EMOv2

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = REPO_ROOT / 'tests'
# The shared spec folder sits beside the checkout (../shared/docs/keys); a copy of the
# official key lists is kept in tests/data/keys so the tests run anywhere.
KEYS_DIR = TESTS_DIR / 'data' / 'keys'
# One thread per tool process: on a small shared machine, OpenMP threads that wait for
# busy cores make each convolution ~50x slower.
TOOL_ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
#: The classifier demo, the base of the configs the distributed / resume tests train.
CLS_DEMO = REPO_ROOT / 'configs' / 'cls' / 'demo' / 'emov2_1m_shapes.py'
#: Generator arguments of a small shapes set: 8 train images of 96 px give 35 crops.
SMALL_SHAPES = dict(num_train=8, num_val=2, img_size=96, seed=0)


def run_tool(script: str, *args, env: Optional[dict] = None, timeout: float = 600,
             check: bool = False) -> subprocess.CompletedProcess:
    """``python tools/<script> args`` from the repo root (``env`` adds variables); with
    ``check``, fail the test with the tool's output unless it exits with 0."""
    result = subprocess.run([sys.executable, f'tools/{script}', *map(str, args)], cwd=REPO_ROOT,
                            env={**TOOL_ENV, **(env or {})}, capture_output=True, text=True,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result


def run_script(script: str, *args, env: Optional[dict] = None, cwd: Path = REPO_ROOT,
               timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
    """``bash tools/<script> args`` (from ``cwd``), with this interpreter as PYTHON unless
    ``env`` sets it; ``check`` as in :func:`run_tool`."""
    result = subprocess.run(['bash', str(REPO_ROOT / 'tools' / script), *map(str, args)], cwd=cwd,
                            env={**TOOL_ENV, 'PYTHON': sys.executable, **(env or {})},
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result


def start_tool(script: str, *args, env: Optional[dict] = None, **popen) -> subprocess.Popen:
    """:func:`run_tool` without waiting (parallel or interrupted runs): the running process,
    its output piped as text unless ``popen`` says otherwise."""
    popen = {'stdout': subprocess.PIPE, 'stderr': subprocess.STDOUT, 'text': True, **popen}
    return subprocess.Popen([sys.executable, f'tools/{script}', *map(str, args)], cwd=REPO_ROOT,
                            env={**TOOL_ENV, **(env or {})}, **popen)


def start_script(script: str, *args, env: Optional[dict] = None, **popen) -> subprocess.Popen:
    """:func:`run_script` without waiting (e.g. the agents of a multi-node job)."""
    popen = {'stdout': subprocess.PIPE, 'stderr': subprocess.STDOUT, 'text': True, **popen}
    return subprocess.Popen(['bash', f'tools/{script}', *map(str, args)], cwd=REPO_ROOT,
                            env={**TOOL_ENV, 'PYTHON': sys.executable, **(env or {})}, **popen)


def newest_log(work_dir: Path) -> str:
    """Text of the log of the latest run in ``work_dir``."""
    run_dir = max(p for p in work_dir.iterdir() if p.is_dir())
    return (run_dir / f'{run_dir.name}.log').read_text()


def tiny_shapes_options(data_root: Path, loaders=('train_dataloader', 'val_dataloader',
                                                    'test_dataloader')) -> List[str]:
    """``--cfg-options`` that point a shapes config at a tiny generated set in ``data_root``."""
    generator = dict(num_train=4, num_val=2, img_size=96, seed=0)
    opts = []
    for loader in loaders:
        opts.append(f'{loader}.dataset.data_root={data_root}')
        opts += [f'{loader}.dataset.generator.{key}={value}' for key, value in generator.items()]
    return opts


#: The shipped demos, by name: config and the emo_mm package its config imports.
DEMOS = {
    'retinanet': ('configs/det/demo/retinanet_emov2_1m_shapes.py', 'emo_mm.det'),
    'ssdlite': ('configs/det/demo/ssdlite_emov2_1m_shapes.py', 'emo_mm.det'),
    'mask_rcnn': ('configs/det/demo/mask_rcnn_emov2_1m_shapes.py', 'emo_mm.det'),
    'deeplabv3': ('configs/seg/demo/deeplabv3_emov2_1m_shapes.py', 'emo_mm.seg'),
    'classifier': ('configs/cls/demo/emov2_1m_shapes.py', 'emo_mm.cls'),
}


def demo_config(path: Path, demo: str, data_root: Path, generator: dict, body: str = '',
                base_body: str = '') -> Path:
    """Write a config at ``path`` that inherits the shipped demo ``demo`` (a :data:`DEMOS`
    name) through ``<stem>_base.py``, which points it at the shapes set ``generator``
    describes in ``data_root`` and states ``base_body``; ``path`` then states ``body``
    (merged like any child config). The tests' hooks (:mod:`probe_hooks`) are importable."""
    config, package = DEMOS[demo]
    base = path.with_name(f'{path.stem}_base.py')
    evaluators = ''
    if package == 'emo_mm.det':
        ann_file = str(Path(data_root) / 'annotations' / 'instances_val.json')
        evaluators = (f'val_evaluator = dict(ann_file={ann_file!r})\n'
                      'test_evaluator = val_evaluator\n')
    base.write_text(f"""\
_base_ = [{str(REPO_ROOT / config)!r}]
custom_imports = dict(imports=['emo_mm', {package!r}, 'probe_hooks'],
                      allow_failed_imports=False)
_shapes = dict(data_root={str(data_root)!r}, generator={generator!r})
train_dataloader = dict(dataset=_shapes)
val_dataloader = dict(dataset=_shapes)
test_dataloader = val_dataloader
{evaluators}{base_body}""")
    path.write_text(f"_base_ = [{str(base)!r}]\n{body}")
    return path


def cls_demo_config(path: Path, data_root: Path, body: str = '') -> Path:
    """A :func:`demo_config` of the classifier demo on the :data:`SMALL_SHAPES` crops in
    ``data_root``, in batches of 8 (4 iterations per epoch), logging every iteration."""
    return demo_config(path, 'classifier', data_root, SMALL_SHAPES, body, base_body="""\
train_dataloader = dict(batch_size=8, dataset=_shapes)
default_hooks = dict(logger=dict(interval=1))
""")


#: Environment that lets tool processes import the tests' hooks (``probe_hooks``).
PROBE_ENV = {'PYTHONPATH': str(TESTS_DIR)}


def final_weights(checkpoint: Path) -> dict:
    """The state dict of an mmengine checkpoint."""
    return torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']


def differing_tensors(a: dict, b: dict) -> List[str]:
    """Names of the tensors that are not bit-identical in two state dicts (same keys)."""
    assert a.keys() == b.keys()
    return [key for key in a if not torch.equal(a[key], b[key])]


def read_official_keys(name: str) -> List[Tuple[str, tuple]]:
    """[(key, shape tuple)] from an official key list (key<TAB>[shape]<TAB>dtype)."""
    rows = []
    for line in (KEYS_DIR / f'keys_{name}.txt').read_text().splitlines():
        key, shape, _ = line.split('\t')
        dims = shape.strip('[]')
        rows.append((key, tuple(int(d) for d in dims.split(',')) if dims else ()))
    return rows


def official_state_dict(arch: str = '1m', num_classes: int = 1000, seed: int = 0) -> OrderedDict:
    """A state dict in the official classification layout (as the released .pth files)."""
    model = randomize_(EMOv2(arch, final_norm=True), seed=seed)
    sd = OrderedDict(model.state_dict())
    sd['head.weight'] = torch.randn(num_classes, model.embed_dims[-1])
    sd['head.bias'] = torch.randn(num_classes)
    return sd


def official_logits(sd: dict, x: torch.Tensor, window_size: int = 7) -> torch.Tensor:
    """The official 1M classifier: features -> LayerNorm2d -> global mean -> Linear, written out."""
    features = EMOv2('1m', window_size=window_size).eval()
    features.load_state_dict({k: v for k, v in sd.items() if not k.startswith(('norm.', 'head.'))})
    f = features(x)[0]
    f = F.layer_norm(f.permute(0, 2, 3, 1), (f.shape[1], ), sd['norm.norm.weight'], sd['norm.norm.bias'],
                     eps=1e-6).permute(0, 3, 1, 2)
    return F.linear(f.mean((2, 3)), sd['head.weight'], sd['head.bias'])


def assert_gives_official_logits(model: torch.nn.Module, sd: dict) -> None:
    """``model`` (a classifier in eval mode) computes the official 1M classifier of ``sd``."""
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ours = model(x, mode='tensor')
        ref = official_logits(sd, x)
    assert ref.abs().max() > 1.0
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
