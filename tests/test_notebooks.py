"""Rules of the book's notebooks that nbdev does not check itself."""
import ast, json
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).parent.parent / 'nbs').glob('*.ipynb'))

def _code_cells(path):
    for i, c in enumerate(json.loads(path.read_text())['cells']):
        if c['cell_type'] == 'code': yield i, ''.join(c['source'])

@pytest.mark.parametrize('path', NBS, ids=lambda p: p.name)
def test_slow_cells_have_no_imports(path):
    # the docs build executes every cell that contains an import, `slow` or not: a slow cell with an import would
    # train a network (or need the datasets) while the docs render. Imports go in a cell of their own.
    for i, src in _code_cells(path):
        directives = [l for l in src.split('\n') if l.startswith('#|')]
        if not any(d.split(':')[0].replace('#|', '').strip() == 'slow' for d in directives): continue
        body = '\n'.join(l for l in src.split('\n') if not l.startswith('%') and not l.startswith('!'))
        imports = [n for n in ast.walk(ast.parse(body)) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not imports, f"{path.name} cell {i} is `slow` and imports {ast.unparse(imports[0])}: move the import to its own cell"
