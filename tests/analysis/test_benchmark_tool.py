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


def test_precisions_and_onnx_runtime_are_columns_of_the_same_table(tmp_path):
    out = tmp_path / 'bench.json'
    result = run_tool('analysis/benchmark.py', '--arch', '1m', '--sizes', '64', '--window', '2',
                      '--runs', '1', '--warmup', '0', '--threads', '1', '--models', 'backbone',
                      '--modes', 'deploy', 'ort', '--precisions', 'fp32', 'bf16', 'int8',
                      '--calib-batches', '2', '--json', out)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {(row['variant'], row['precision']): row for row in report['rows']}
    # deploy runs fp32 / bf16, ONNX Runtime fp32 / int8; nothing else is claimed
    assert set(rows) == {('plain', 'fp32'), ('ours deploy', 'fp32'), ('ours deploy', 'bf16'),
                         ('ours deploy+ort', 'fp32'), ('ours deploy+ort', 'int8')}
    deploy = rows[('ours deploy', 'fp32')]['median_ms']
    for row in rows.values():   # every ratio is against our float32 deploy form
        assert row['vs_deploy'] == pytest.approx(deploy / row['median_ms'], rel=1e-6)
    assert {'torch_cpu_capability', 'amx_bf16', 'avx512_vnni'} <= set(report['setup']['isa'])
    assert 'vs deploy' in result.stdout and 'int8' in result.stdout


@pytest.mark.parametrize('option', [('--modes', 'aoti'), ('--modes', 'ort'),
                                    ('--precisions', 'bf16')])
def test_cpu_only_paths_on_a_gpu_are_a_clear_error(option):
    result = run_tool('analysis/benchmark.py', *option, '--device', 'cuda')
    assert result.returncode == 2
    assert 'use --device cpu' in result.stderr
    assert 'Traceback' not in result.stderr


def test_training_in_float32_and_bf16_side_by_side(tmp_path):
    out = tmp_path / 'bench.json'
    result = run_tool('analysis/benchmark.py', '--arch', '1m', '--sizes', '64', '--window', '2',
                      '--runs', '1', '--warmup', '0', '--threads', '1', '--train-batch', '2',
                      '--modes', 'train', '--train-precisions', 'fp32', 'bf16', '--json', out)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {(row['variant'], row['precision']): row for row in json.loads(out.read_text())['rows']}
    assert set(rows) == {('plain', 'fp32'), ('ours', 'fp32'), ('plain', 'bf16'), ('ours', 'bf16'),
                         ('ours torch depthwise', 'fp32'), ('ours torch depthwise', 'bf16')}
    assert all(row['peak_mb'] is not None and row['median_ms'] > 0 for row in rows.values())
    fp32 = rows[('ours', 'fp32')]['median_ms']
    line = next(line for line in result.stdout.splitlines()
                if line.startswith('classifier train 1m 64 bs 2: ours bf16 autocast'))
    assert f'({fp32:.1f} -> {rows[("ours", "bf16")]["median_ms"]:.1f} ms)' in line
    # FLOP/s: one FLOP count per step (the same model), beside this run's matmul rates
    report = json.loads(out.read_text())
    gemm = report['setup']['matmul_gflop_per_s']
    assert set(gemm) == {'float32', 'bfloat16'} and all(v > 0 for v in gemm.values())
    gflop = {name: row['gflop_per_s'] * row['median_ms'] for name, row in rows.items()}
    assert all(v == pytest.approx(gflop[('plain', 'fp32')], rel=1e-6) for v in gflop.values())
    assert gflop[('plain', 'fp32')] > 0
    assert rows[('ours', 'bf16')]['compute_dtype'] == 'bfloat16'
    line = next(line for line in report['summary']
                if line.startswith('classifier train 1m 64 bs 2 ours bf16: '))
    share = rows[('ours', 'bf16')]['gflop_per_s'] / gemm['bfloat16']
    assert f'{share:.0%} of the bfloat16 2048^3 matmul of this run' in line


def test_bf16_training_on_a_gpu_is_a_clear_error():
    result = run_tool('analysis/benchmark.py', '--modes', 'train', '--train-precisions', 'bf16',
                      '--device', 'cuda')
    assert result.returncode == 2
    assert 'on a GPU use --amp' in result.stderr and 'Traceback' not in result.stderr
