"""Rules of the book's notebooks that nbdev does not check itself: what the reader sees is what the chapter teaches."""
import ast, json, re
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).parent.parent / 'nbs').glob('*.ipynb'))

def _directives(src):
    "The `#| name: value` lines of a cell as {name: value}."
    out = {}
    for l in src.split('\n'):
        m = re.match(r'#\|\s*([\w-]+)\s*:?\s*(.*)$', l)
        if m: out[m.group(1)] = m.group(2).strip()
    return out

def _code_cells(path):
    for i, c in enumerate(json.loads(path.read_text())['cells']):
        if c['cell_type'] == 'code': yield i, ''.join(c['source']), c.get('outputs', [])

def _python(src):
    "The cell's Python, with magics and shell lines commented out."
    return '\n'.join('# ' + l if l.lstrip().startswith(('%', '!')) else l for l in src.split('\n'))

@pytest.mark.parametrize('path', NBS, ids=lambda p: p.name)
def test_slow_cells_have_no_imports(path):
    # the docs build executes every cell that contains an import, `slow` or not: a slow cell with an import would
    # train a network (or need the datasets) while the docs render. Imports go in a cell of their own.
    for i, src, _ in _code_cells(path):
        if 'slow' not in _directives(src): continue
        imports = [n for n in ast.walk(ast.parse(_python(src))) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not imports, f"{path.name} cell {i} is `slow` and imports {ast.unparse(imports[0])}: move the import to its own cell"

# Calls that return None: a cell that ends in one of them shows nothing, and needs no saved output.
_SILENT = {'test_eq', 'test_ne', 'test_close', 'test_is', 'test_fail', 'test_warns', 'test_shuffled', 'test_stdout',
           'nbdev_export', 'check_layer', 'check_grads', 'set_seed', 'set_floatx', 'seed', 'close', 'tight_layout',
           'set_printoptions', 'update', 'append', 'extend', 'setdefault'}
_SHOWS = re.compile(r'(\bprint\(|\bplt\.|\.plot\(|\bimshow\(|\bshow_doc\(|\.summary\(|\bdisplay\(|\bplot_\w+\(|^%%?time)', re.M)

def _run_when_defined(src):
    "The cell's source without its top-level function and class definitions (a print in a body runs when called)."
    lines = src.split('\n')
    for node in ast.parse(_python(src)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            for k in range(first - 1, node.end_lineno): lines[k] = ''
    return '\n'.join(lines)

def _needs_output(src):
    "Whether a shown cell prints, plots or ends in an expression, so that the rendered page must show an output."
    d = _directives(src)
    if 'hide' in d or d.get('include') == 'false' or d.get('eval') == 'false' or 'export' in d: return False
    if _SHOWS.search(_run_when_defined(src)): return True
    body = ast.parse(_python(src)).body
    if not body or not isinstance(body[-1], ast.Expr): return False
    v = body[-1].value
    if isinstance(v, ast.Constant) and isinstance(v.value, str): return False   # a bare string: documentation
    if isinstance(v, ast.Call):
        f = v.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
        if name in _SILENT or name.startswith('test_'): return False
    return True

def test_output_rule():
    assert not _needs_output("def f():\n    print(1)")                 # defining shows nothing
    assert _needs_output("@dec\ndef f():\n    print(1)\nf()")          # calling it does
    assert _needs_output("class A:\n    pass\nA()")
    assert not _needs_output("#| hide\nprint(1)") and not _needs_output("x = 1")

@pytest.mark.parametrize('path', NBS, ids=lambda p: p.name)
def test_outputs_saved(path):
    # Quarto shows the outputs saved in the notebook; it does not run the chapter. A cell that prints, plots or ends
    # in an expression and has no saved output renders as code with nothing under it.
    missing = [i for i, src, outs in _code_cells(path) if _needs_output(src) and not outs]
    assert not missing, f"{path.name}: cells {missing} print, plot or end in an expression but have no saved output; run the chapter with tools/run_nb.py"

# Plumbing that may stay behind `#| export` (only its signature and docstring are rendered). Everything else a chapter
# defines publicly is what it teaches, and the reader sees its source (`#| exports`).
HIDDEN_OK = {
    '00_core.ipynb': {'shape_str', 'register_layer', 'single_threaded_blas', 'n_chunks'},
    '02_losses.ipynb': {'get', 'serialize', 'deserialize'},
    '03_optim.ipynb': {'get', 'serialize', 'deserialize'},
    '04_model.ipynb': {'CallbackList', 'get_config', 'save_weights', 'load_weights', 'layer_from_config'},
    '10_data.ipynb': {'resolve_data_dir', 'cache_dir', 'DatasetError', 'download', 'write_tiny_mnist', 'write_tiny_cifar10'},
    '12_lenet5.ipynb': {'load_dataset', 'main'},
    '14_performance.ipynb': {'environment', 'alternate', 'median', 'versus', 'bench_startup', 'format_table', 'main'},
    '16_airbench.ipynb': {'main'},
}

@pytest.mark.parametrize('path', NBS, ids=lambda p: p.name)
def test_definitions_shown(path):
    hidden = []
    for i, src, _ in _code_cells(path):
        if 'export' not in _directives(src): continue
        for n in ast.parse(_python(src)).body:
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith('_') and n.name not in HIDDEN_OK.get(path.name, ()):
                hidden.append(f"{n.name} (cell {i})")
    assert not hidden, f"{path.name} defines {', '.join(hidden)} in `#| export` cells, whose source the rendered page hides: use `#| exports`"

def _joined_lines(src):
    "Line numbers where a statement follows another on its line (`a = 1; b = 2`), in the cell's Python."
    out = set()
    for node in ast.walk(ast.parse(_python(src))):
        for field in ('body', 'orelse', 'finalbody'):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list): continue
            for a, b in zip(stmts, stmts[1:]):
                if isinstance(a, ast.stmt) and b.lineno == a.end_lineno: out.add(b.lineno)
    return sorted(out)

def test_joined_rule():
    assert _joined_lines("a = 1; b = 2\nc = 3") == [1]
    assert _joined_lines("for i in x:\n    a = i; b = i") == [2]
    assert _joined_lines("a = 1\nb = 2\nif a:\n    b = 3") == []

@pytest.mark.parametrize('path', NBS, ids=lambda p: p.name)
def test_no_joined_statements(path):
    # Shown code is read: one statement per line. Cells whose source the page hides may stay compact.
    bad = []
    for i, src, _ in _code_cells(path):
        d = _directives(src)
        if 'export' in d or 'hide' in d or d.get('echo') == 'false' or d.get('include') == 'false': continue
        lines = _joined_lines(src)
        if lines: bad.append(f"cell {i} line {lines[0]}: {src.split(chr(10))[lines[0] - 1].strip()}")
    assert not bad, f"{path.name} joins statements with `;` in shown code:\n" + '\n'.join(bad)
