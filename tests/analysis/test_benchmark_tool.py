"""tools/analysis/benchmark.py end to end with one timed run per variant: the table, the JSON
rows (every variant of the same model computes the same thing, only faster), and bad options."""
import json

import pytest
from helpers import run_tool

pytestmark = pytest.mark.e2e


def test_inference_benchmark_writes_table_and_json(tmp_path):
    out = tmp_path / 'bench.json'
    result = run_tool('analysis/benchmark.py', '--arch', '1m', '--sizes', '64', '--window', '2',
                      '--runs', '1', '--warmup', '0', '--threads', '1',
                      '--modes', 'infer', 'deploy', '--json', out)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())['rows']
    variants = {(row['task'], row['variant']) for row in rows}
    for task in ('backbone infer', 'classifier infer'):
        assert {(task, v) for v in ('plain', 'ours', 'ours deploy')} <= variants
    assert all(row['median_ms'] > 0 and row['size'] == 64 for row in rows)
    plain = {row['task']: row['median_ms'] for row in rows if row['variant'] == 'plain'}
    for row in rows:   # each variant's ratio is against the plain model of its own task
        assert row['vs_plain'] == pytest.approx(plain[row['task']] / row['median_ms'], rel=1e-6)
    assert 'ours deploy' in result.stdout


def test_aoti_on_a_gpu_is_a_clear_error():
    result = run_tool('analysis/benchmark.py', '--modes', 'aoti', '--device', 'cuda')
    assert result.returncode == 2
    assert '--modes aoti compiles for the CPU' in result.stderr
    assert 'Traceback' not in result.stderr
