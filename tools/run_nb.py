"""Run chapters top to bottom in a fresh kernel and save their outputs in place.

    python tools/run_nb.py nbs/04_model.ipynb            # every cell except `#| slow` ones (they keep their outputs)
    python tools/run_nb.py --slow nbs/12_lenet5.ipynb    # every cell, the long training runs too

A chapter's committed outputs are what Quarto shows; this is how they are made. Cells marked `slow` keep the outputs of
their last full run unless `--slow` is given, so a fast re-run never erases the real numbers. Execution counts are
cleared afterwards (as `nbdev-clean` does); run `nbdev-clean` before committing all the same.
"""
import argparse, os, re, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

_SLOW = re.compile(r'^#\|\s*slow\s*$', re.M)


def run(path, slow=False, timeout=1800):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}})
    t0 = time.time()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code': continue
            if not slow and _SLOW.search(cell.source): continue
            client.execute_cell(cell, i)
    for cell in nb.cells:
        if cell.cell_type != 'code': continue
        cell.execution_count = None
        for o in cell.get('outputs', []):
            if 'execution_count' in o: o['execution_count'] = None
    nbformat.write(nb, path)
    print(f"{path}: ran in {time.time() - t0:.1f} s{' (with slow cells)' if slow else ''}")


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('paths', nargs='+', type=Path)
    p.add_argument('--slow', action='store_true', help='also run the cells marked `#| slow`')
    p.add_argument('--timeout', type=int, default=1800, help='seconds allowed per cell')
    a = p.parse_args()
    os.environ.setdefault('DL2_DATA', str((Path(__file__).resolve().parent.parent.parent / 'shared' / 'data')))
    for path in a.paths: run(path, a.slow, a.timeout)
