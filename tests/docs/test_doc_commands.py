"""Every shell command that README.md and docs/*.md mark as runnable on a CPU is run, so that no
documented command can rot.

Marker convention
-----------------
An HTML comment on the line directly before a ```` ```bash ```` fence (invisible in rendered
markdown) marks every command of that block::

    <!-- cpu-test -->                            run the block as written
    <!-- cpu-test: EXTRA ARGS -->                append EXTRA ARGS to each of its commands
    <!-- cpu-test after=DOC -->                  start from what DOC's marked commands left
    <!-- cpu-test after=DOC: EXTRA ARGS -->      both

``DOC`` is a path from the repository root (``README.md``, ``docs/tools.md``). Blocks without a
marker are never run: GPU commands, several machines or Slurm nodes, downloads, datasets that are
not here (COCO, ADE20K, ImageNet), placeholders (``CONFIG``), the full install and the whole test
suite stay unmarked.

How a marked block is run (``test_marked_commands_run``, one test per document):

* Sandbox: each document gets a temporary folder holding symlinks to the checkout's files
  (everything except ``.git``, ``data``, ``work_dirs``, ``checkpoints``), which is the working
  directory of its commands: relative paths (``work_dirs/...``, ``data/shapes/...``, a config's
  ``data_root``) land there and nothing is written into the checkout. The document's marked
  commands run in document order in that one sandbox, so a command can use what an earlier one
  wrote (train, then test the checkpoint it saved). With ``after=DOC`` the sandbox starts as a
  copy of DOC's sandbox after DOC's commands ran (they run once per session), and a command
  identical to one DOC ran (same words after the substitutions below, same extra arguments) is
  not run again: e.g. docs/get_started.md repeats README's main job and then tests its checkpoint.
* Parsing: lines ending with ``\\`` are joined; ``#`` comments are dropped; ``A && B`` runs A,
  then B. ``bash tools/install.sh`` is not run, alone or as the ``A`` of ``A && B`` (the install
  already happened: it is what runs this test), so ``bash tools/install.sh && X`` runs X only.
  ``python``, ``python3`` and ``.venv/bin/python``, as the command or as the value of
  ``PYTHON=``, become this interpreter; leading ``NAME=value`` words are environment variables.
  Pipes, redirections, ``;``, ``||``, ``&``, ``$`` expansions and globs are not supported and fail
  the test (``test_markers_are_well_formed``, which needs no tools run).
* Shortening: (1) the marker's EXTRA ARGS are appended to each command of the block (e.g.
  ``--cfg-options train_cfg.max_iters=4 train_cfg.val_interval=4``; a second ``--cfg-options``
  merges with the first). (2) Tiny data, automatically: every command that runs a tool on a config
  (``tools/{train,test,infer}.py``, ``tools/deployment/export_{onnx,aot}.py``,
  ``tools/dist_{train,test}.sh``) whose data loaders generate the synthetic shapes data gets
  ``--cfg-options <loader>.dataset.generator.num_train=2 ... num_val=2 ... img_size=96`` for each
  such loader (:data:`TINY_SHAPES`): the data is generated small, in the sandbox. Schedules stay
  as configured unless EXTRA ARGS change them: the main job still trains 26 epochs and writes
  ``epoch_26.pth``, but an epoch is one batch of 2 images. (2 images give 11 classification
  crops: fewer than the classifier demo's batch of 32, so its blocks set a smaller one.)
* Environment: ``OMP_NUM_THREADS=1`` (as ``tests/helpers.py``). A command that exits non-zero
  fails the test with the command as written, as run, and the end of its output; ``-s`` prints
  each command's time. All documents together took about 3 min 20 s on 2 shared cores.
"""
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from helpers import REPO_ROOT, TOOL_ENV

#: Documents whose shell blocks may be marked.
DOCUMENTS = ['README.md'] + sorted(str(p.relative_to(REPO_ROOT))
                                   for p in (REPO_ROOT / 'docs').glob('*.md'))
MARKER = re.compile(r'^<!-- cpu-test(?: after=(?P<after>\S+))?(?:: (?P<extra>.*?))? -->$')
#: Anything that looks like a marker; one that does not match MARKER exactly is an error.
LOOKS_LIKE_MARKER = re.compile(r'^\s*<!--\s*cpu[-_ ]?test', re.IGNORECASE)
FENCE = re.compile(r'^```(?P<lang>\S*)\s*$')
#: The checkout's entries the sandbox does not link (outputs and data land in the sandbox).
NOT_LINKED = {'.git', 'data', 'work_dirs', 'checkpoints', '.pytest_cache'}
PYTHONS = {'python', 'python3', '.venv/bin/python'}
#: Tools that take a config as their first argument and accept --cfg-options.
CONFIG_TOOLS = {'tools/train.py', 'tools/test.py', 'tools/infer.py',
                'tools/deployment/export_onnx.py', 'tools/deployment/export_aot.py',
                'tools/dist_train.sh', 'tools/dist_test.sh'}
#: Generator arguments of the shapes data the commands run on: 2 train and 2 val images of
#: 96 px (11 train crops for the classifier).
TINY_SHAPES = dict(num_train=2, num_val=2, img_size=96)
INSTALL = ['bash', 'tools/install.sh']
UNSUPPORTED = {'|', ';', '||', '&', '>', '>>', '<', '2>', '2>&1', '&>'}
TIMEOUT = 600   # seconds per command


@dataclass
class Command:
    """One command of a marked block: as written, and the words that run it."""
    doc: str
    line: int
    text: str                          # the logical line as written (continuations joined)
    env: Dict[str, str] = field(default_factory=dict)
    argv: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)   # segments not run (the install)


@dataclass
class Block:
    doc: str
    line: int                          # line of the marker
    after: Optional[str]
    extra: List[str]
    commands: List[Command]


class MarkerError(ValueError):
    pass


def split_segments(words: List[str]) -> List[List[str]]:
    """``A && B && C`` -> [A, B, C]."""
    segments, current = [], []
    for word in words:
        if word == '&&':
            segments.append(current)
            current = []
        else:
            current.append(word)
    segments.append(current)
    if any(not s for s in segments):
        raise MarkerError('empty command around &&')
    return segments


def parse_segment(words: List[str], extra: List[str]) -> Tuple[Dict[str, str], List[str]]:
    """Environment and argv of one simple command, the interpreter substituted and the
    marker's extra words appended."""
    env = {}
    while words and re.match(r'^[A-Za-z_][A-Za-z0-9_]*=', words[0]):
        name, value = words[0].split('=', 1)
        env[name] = sys.executable if name == 'PYTHON' and value in PYTHONS else value
        words = words[1:]
    if not words:
        raise MarkerError('a command with nothing but variables')
    if words[0] in PYTHONS:
        words = [sys.executable] + words[1:]
    return env, words + extra


def parse_command(doc: str, line: int, text: str, extra: List[str]) -> List[Command]:
    """The commands one logical line runs (several when joined by ``&&``)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = '#'
    words = list(lexer)
    if any('$' in w or '`' in w for w in words):
        raise MarkerError(f'{doc}:{line}: $ expansions and backquotes are not supported: {text}')
    bad = [w for w in words if w in UNSUPPORTED or (set(w) <= set('|&;<>') and w != '&&')]
    if bad:
        raise MarkerError(f'{doc}:{line}: unsupported shell syntax {bad[0]!r} in: {text}')
    if any(ch in w for w in words for ch in '*?['):
        raise MarkerError(f'{doc}:{line}: globs are not supported: {text}')
    commands, skipped = [], []
    for segment in split_segments(words):
        if segment == INSTALL or segment == ['tools/install.sh']:
            skipped.append(shlex.join(segment))   # the install already happened
            continue
        env, argv = parse_segment(segment, extra)
        commands.append(Command(doc, line, text, env, argv, skipped))
        skipped = []
    if skipped:   # the install alone: nothing to run
        commands.append(Command(doc, line, text, {}, [], skipped))
    return commands


def logical_lines(lines: List[Tuple[int, str]]) -> List[Tuple[int, str]]:
    """(first line number, text) of each command: continuations joined, blank and
    comment-only lines dropped."""
    out, pending, start = [], '', 0
    for number, text in lines:
        if not pending:
            start = number
        if text.rstrip().endswith('\\'):
            pending += text.rstrip()[:-1] + ' '
            continue
        pending += text
        if pending.strip() and not pending.strip().startswith('#'):
            out.append((start, pending.strip()))
        pending = ''
    if pending.strip():
        raise MarkerError(f'line {start}: the block ends inside a continued line')
    return out


@lru_cache(maxsize=None)
def marked_blocks(doc: str) -> Tuple[Block, ...]:
    """The marked blocks of ``doc`` (a path from the repo root), in document order."""
    return parse_blocks(doc, (REPO_ROOT / doc).read_text(encoding='utf-8'))


def parse_blocks(doc: str, markdown: str) -> Tuple[Block, ...]:
    """The marked blocks of the text of ``doc``."""
    lines = markdown.splitlines()
    blocks, in_fence = [], False
    for index, text in enumerate(lines):
        if FENCE.match(text.strip()):
            in_fence = not in_fence
            continue
        if in_fence or not LOOKS_LIKE_MARKER.search(text):   # markers sit outside fences
            continue
        where = f'{doc}:{index + 1}'
        match = MARKER.match(text.strip())
        if match is None:
            raise MarkerError(f'{where}: malformed marker {text.strip()!r}; the forms are '
                              '<!-- cpu-test -->, <!-- cpu-test: ARGS -->, '
                              '<!-- cpu-test after=DOC[: ARGS] -->')
        fence = FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        if fence is None or fence.group('lang') != 'bash':
            raise MarkerError(f'{where}: a cpu-test marker must be directly followed by a '
                              '```bash fence')
        end = next((j for j in range(index + 2, len(lines)) if lines[j].strip() == '```'), None)
        if end is None:
            raise MarkerError(f'{where}: the marked block has no closing fence')
        extra = shlex.split(match.group('extra') or '')
        body = [(j + 1, lines[j]) for j in range(index + 2, end)]
        commands = [command for number, text in logical_lines(body)
                    for command in parse_command(doc, number, text, extra)]
        if not commands:
            raise MarkerError(f'{where}: the marked block holds no command')
        blocks.append(Block(doc, index + 1, match.group('after'), extra, commands))
    return tuple(blocks)


def marked_documents() -> List[str]:
    """The documents with a marker line (parsed by the tests, so that a bad marker fails one
    test with its message instead of the collection)."""
    return [doc for doc in DOCUMENTS
            if any(LOOKS_LIKE_MARKER.search(line)
                   for line in (REPO_ROOT / doc).read_text(encoding='utf-8').splitlines())]


def predecessor(doc: str) -> Optional[str]:
    """The document named by ``after=`` in ``doc`` (at most one per document)."""
    afters = {b.after for b in marked_blocks(doc) if b.after}
    if len(afters) > 1:
        raise MarkerError(f'{doc}: after= names several documents: {sorted(afters)}')
    return afters.pop() if afters else None


def tool_of(argv: List[str]) -> Optional[str]:
    """The repo script a command runs (``tools/train.py``), if any."""
    words = argv[1:] if argv[0] in (sys.executable, 'bash') else argv
    for word in words[:1]:
        if word.startswith('tools/'):
            return word
    return None


# ------------------------------------------------------------------ shortening
def shapes_loaders(config: Path) -> List[str]:
    """Dotted keys of the datasets in ``config`` that generate the shapes data."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(config), import_custom_modules=False)
    keys = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset, key = (cfg.get(loader) or {}).get('dataset'), f'{loader}.dataset'
        while isinstance(dataset, dict):
            if 'generator' in dataset:
                keys.append(key)
                break
            dataset, key = dataset.get('dataset'), f'{key}.dataset'
    return keys


def tiny_data_options(argv: List[str], sandbox: Path) -> List[str]:
    """``--cfg-options`` that make a config tool's shapes data tiny (none for other tools)."""
    tool = tool_of(argv)
    if tool not in CONFIG_TOOLS:
        return []
    rest = argv[argv.index(tool) + 1:]
    config = next((w for w in rest if w.endswith('.py') and not w.startswith('-')), None)
    if config is None or not (sandbox / config).is_file():
        return []
    options = [f'{key}.generator.{name}={value}' for key in shapes_loaders(sandbox / config)
               for name, value in TINY_SHAPES.items()]
    return ['--cfg-options', *options] if options else []


# ------------------------------------------------------------------ running
def make_sandbox(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for entry in REPO_ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (path / entry.name).symlink_to(entry)
    return path


def describe(command: Command, argv: List[str], cwd: Path) -> str:
    env = ' '.join(f'{k}={v}' for k, v in command.env.items())
    return (f'{command.doc}:{command.line}: {command.text}\n'
            f'  run as: {(env + " ") if env else ""}{shlex.join(argv)}\n  in: {cwd}')


def run_command(command: Command, sandbox: Path) -> Tuple[float, str]:
    """Run one command in ``sandbox``; fail the test with its output unless it exits 0."""
    argv = command.argv + tiny_data_options(command.argv, sandbox)
    start = time.perf_counter()
    try:
        result = subprocess.run(argv, cwd=sandbox, env={**TOOL_ENV, **command.env},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=TIMEOUT)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f'timed out after {TIMEOUT} s:\n{describe(command, argv, sandbox)}\n'
                    f'--- output ---\n{(err.output or "")[-6000:]}', pytrace=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        pytest.fail(f'exit code {result.returncode} after {seconds:.0f} s:\n'
                    f'{describe(command, argv, sandbox)}\n--- output (end) ---\n'
                    f'{result.stdout[-6000:]}', pytrace=False)
    return seconds, result.stdout


def command_key(command: Command) -> Tuple:
    return tuple(command.argv), tuple(sorted(command.env.items()))


class Sessions:
    """The sandbox of each document whose commands ran in this session (or the error), the
    commands run in it (inherited through ``after=``), and how long each took."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: Dict[str, Path] = {}
        self.ran: Dict[str, List[Tuple]] = {}
        self.failed: Dict[str, str] = {}
        self.timings: Dict[str, List[Tuple[str, Optional[float]]]] = {}

    def run(self, doc: str, chain: Tuple[str, ...] = ()) -> Path:
        if doc in self.done:
            return self.done[doc]
        if doc in self.failed:
            pytest.fail(f'{chain[-1]} needs the sandbox of {doc}, whose commands failed:\n'
                        f'{self.failed[doc]}', pytrace=False)
        sandbox = self.root / re.sub(r'\W', '_', doc)
        before = predecessor(doc)
        inherited: List[Tuple] = []
        if before is not None:
            shutil.copytree(self.run(before, chain + (doc, )), sandbox, symlinks=True)
            inherited = list(self.ran[before])
        else:
            make_sandbox(sandbox)
        ran = list(inherited)
        timings = self.timings.setdefault(doc, [])
        try:
            for block in marked_blocks(doc):
                for command in block.commands:
                    if not command.argv:
                        continue
                    what = f'{command.doc}:{command.line}: {command.text}'[:120]
                    if command_key(command) in inherited:   # ran in the sandbox copied
                        timings.append((what, None))
                        continue
                    seconds, _ = run_command(command, sandbox)
                    ran.append(command_key(command))
                    timings.append((what, seconds))
        except BaseException as err:   # pytest.fail raises an outcome exception
            self.failed[doc] = str(err)
            raise
        self.done[doc], self.ran[doc] = sandbox, ran
        return sandbox


@pytest.fixture(scope='session')
def doc_sessions(tmp_path_factory) -> Sessions:
    return Sessions(tmp_path_factory.mktemp('doc_commands'))


# ------------------------------------------------------------------ tests
def test_markers_are_well_formed():
    """Every marker sits before a bash fence, its commands parse and name existing scripts,
    ``after=`` names a document with marked commands and no cycle: no tool is run."""
    for doc in DOCUMENTS:
        for block in marked_blocks(doc):
            for command in block.commands:
                if not command.argv:
                    continue
                tool = tool_of(command.argv)
                assert tool is None or (REPO_ROOT / tool).is_file(), \
                    f'{doc}:{command.line}: {tool} does not exist'
        seen, current = [doc], predecessor(doc)
        while current is not None:
            assert current in DOCUMENTS and marked_blocks(current), \
                f'{doc}: after={current} names no document with marked commands'
            assert current not in seen, f'after= cycle: {" -> ".join(seen + [current])}'
            seen.append(current)
            current = predecessor(current)


def test_the_readme_main_job_is_marked():
    """README's main job is marked; its install step is recognised and not run."""
    commands = [c for b in marked_blocks('README.md') for c in b.commands]
    main_job = [c for c in commands if c.argv[1:3] == [
        'tools/train.py', 'configs/det/demo/retinanet_emov2_1m_shapes.py']]
    assert main_job and main_job[0].skipped == ['bash tools/install.sh']
    assert main_job[0].argv[0] == sys.executable


def test_the_parser_follows_the_convention():
    [install_only] = parse_command('d', 1, 'bash tools/install.sh', [])
    assert install_only.argv == [] and install_only.skipped == ['bash tools/install.sh']
    [cmd] = parse_command('d', 1, 'bash tools/install.sh && .venv/bin/python tools/train.py c.py '
                          '# a comment', ['--cfg-options', 'a=1'])
    assert cmd.argv == [sys.executable, 'tools/train.py', 'c.py', '--cfg-options', 'a=1']
    [cmd] = parse_command('d', 1, 'PYTHON=.venv/bin/python NNODES=1 tools/dist_train.sh c.py 2', [])
    assert cmd.env == {'PYTHON': sys.executable, 'NNODES': '1'}
    assert cmd.argv == ['tools/dist_train.sh', 'c.py', '2']
    for bad in ('python a.py | tee log', 'python a.py > log', 'python a.py; ls', 'ls $HOME',
                'python a.py || true', 'ls work_dirs/*.pth'):
        with pytest.raises(MarkerError):
            parse_command('d', 1, bad, [])
    assert logical_lines([(1, 'python a.py \\'), (2, '    --x 1'), (3, ''), (4, '# c')]) == \
        [(1, 'python a.py      --x 1')]
    [block] = parse_blocks('d', '\n'.join([
        'text `<!-- cpu-test -->` in a sentence is no marker', '```', '<!-- cpu-test -->', '```',
        '<!-- cpu-test after=README.md: --cfg-options a=1 -->', '```bash',
        '# comment', 'python tools/test.py c.py \\', '    x.pth', '```']))
    assert (block.line, block.after, block.extra) == (5, 'README.md', ['--cfg-options', 'a=1'])
    assert [c.argv for c in block.commands] == \
        [[sys.executable, 'tools/test.py', 'c.py', 'x.pth', '--cfg-options', 'a=1']]
    for bad in (['<!-- cpu-test -->', '', '```bash', 'ls', '```'],      # not directly before
                ['<!-- cpu-test -->', '```python', 'x = 1', '```'],    # not a bash block
                ['<!-- cpu-tests -->', '```bash', 'ls', '```'],        # misspelt
                ['<!-- cpu-test -->', '```bash', '# only a comment', '```']):
        with pytest.raises(MarkerError):
            parse_blocks('d', '\n'.join(bad))


@pytest.mark.e2e   # runs the tools as processes
@pytest.mark.parametrize('doc', marked_documents())
def test_marked_commands_run(doc, doc_sessions):
    doc_sessions.run(doc)
    for what, seconds in doc_sessions.timings[doc]:
        took = f'{seconds:6.1f} s' if seconds is not None else f'ran in {predecessor(doc)}'
        print(f'\n  {took}  {what}', end='')
