"""The package's layout rules, checked on its source: emo_mm's own modules import each other at
module level only (no import hidden inside a function), and never in a circle."""
import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

from helpers import REPO_ROOT

PACKAGE = REPO_ROOT / 'emo_mm'


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def own_import(node: ast.AST, module: str, is_package: bool) -> List[str]:
    """The emo_mm modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split('.')[0] == 'emo_mm']
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split('.') if is_package else module.split('.')[:-1]
        base = base[:len(base) - node.level + 1]
        target = '.'.join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ''
    if target.split('.')[0] != 'emo_mm':
        return []
    return [target] + [f'{target}.{alias.name}' for alias in node.names]


def modules() -> Dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob('*.py'))}


def import_graph() -> Dict[str, Set[str]]:
    """Module -> the emo_mm modules it imports at module level."""
    known = modules()
    graph = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        edges = set()
        for node in tree.body:
            edges |= {t for t in own_import(node, name, path.name == '__init__.py') if t in known}
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    state: Dict[str, int] = {}   # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_function_level_imports_of_our_own_modules():
    hidden = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if own_import(inner, name, path.name == '__init__.py'):
                        hidden.append(f'{path.relative_to(REPO_ROOT)}:{inner.lineno} in {node.name}()')
    assert hidden == []


def test_no_import_cycles():
    graph = import_graph()
    assert graph['emo_mm.models.emov2'] >= {'emo_mm.checkpoint', 'emo_mm.models.layers'}  # the walker sees imports
    assert find_cycle(graph) is None, ' -> '.join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': set()}) == ['a', 'b', 'c', 'a']
