"""The docs preview (`make docs` without Quarto) shows what the published site shows."""
import re, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))
import preview

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')
    preview.main(['--file-re', r'^(02_losses|01_dense)\.ipynb$', '--out', str(out)])
    return out

def _page(site, name): return (site / name).read_text()

def test_pages_and_contents(site):
    assert {'losses.html', 'dense.html', 'contents.html'} <= {p.name for p in site.iterdir()}
    toc = _page(site, 'contents.html')
    assert toc.index('dense.html') < toc.index('losses.html'), "contents follow the sidebar's order"

def test_no_directive_leaks(site):
    for name in ('losses.html', 'dense.html'):
        assert not re.search(r'#\|', _page(site, name)), f"{name} shows a `#|` directive"

def test_hidden_cells_stay_hidden(site):
    page = _page(site, 'losses.html')
    assert 'nbdev_export' not in page and 'default_exp' not in page
    assert 'from fastcore.test import' not in page      # the chapter's hidden test imports

def test_show_doc_and_figures(site):
    assert re.search(r'<h[34][^>]*>CategoricalCrossentropy', _page(site, 'losses.html')), "show_doc output missing"
    assert 'data:image/png;base64' in _page(site, 'dense.html'), "figures are embedded"

def test_links_between_chapters(site):
    assert not re.search(r'href="[^"]*\.ipynb', _page(site, 'dense.html')), "a link still points at a notebook"

def test_readme_is_index():
    "README.md is written from nbs/index.ipynb (tools/readme.py, as nbdev-readme does where Quarto is installed)."
    import readme
    assert (ROOT / 'README.md').read_text() == readme.render(), "README.md is stale: run python tools/readme.py"

def test_cell_options_once(tmp_path, monkeypatch):
    "Quarto rejects a cell whose `#|` options repeat a key: nbdev's processing must not add a second `code-fold`."
    import nbformat
    from fastcore.nbio import read_nb
    from nbdev.processors import FilterDefaults
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_raw_cell('---\ntitle: t\n---'),
                nbformat.v4.new_code_cell('#| exports\n#| code-fold: true\ndef kernel(): return 1'),
                nbformat.v4.new_code_cell('#| exports\ndef lesson(): return 2')]
    nbformat.write(nb, tmp_path / 'x.ipynb')
    monkeypatch.chdir(ROOT)                                   # nbdev reads its settings from pyproject.toml
    proc = read_nb(tmp_path / 'x.ipynb')
    FilterDefaults()(proc)
    for c in proc.cells:
        if c.cell_type != 'code': continue
        keys = re.findall(r'^#\|\s*([\w-]+)\s*:', c.source, re.M)
        assert len(keys) == len(set(keys)), f"repeated cell option in {c.source!r}"
    folded = [c.source for c in proc.cells if 'def kernel' in c.source][0]
    assert '#| code-fold: true' in folded
