"""Render the book to HTML without Quarto: a preview of what the published site shows.

    python tools/preview.py            # nbdev-proc-nbs, then one HTML page per chapter into docs/
    python tools/preview.py --no-proc  # reuse _proc/ as it is

`nbdev-proc-nbs` turns the chapters into exactly the notebooks that Quarto renders (hidden cells removed, `#| export`
sources replaced by their `show_doc`, front matter from the title cell). This script renders those notebooks with
nbconvert instead of Quarto, applying the Quarto cell options the book uses (`echo`, `output`, `include`,
`code-fold`), in the order of `nbs/sidebar.yml`, with a contents page. Where Quarto is installed, `make docs` runs
`nbdev-docs` instead and this script is not needed.
"""
import argparse, html, re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbdev.doclinks import nbpath2html

ROOT = Path(__file__).resolve().parent.parent
_OPT = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')


def sidebar(nbs):
    "The sidebar's parts as [(part or None, [notebook names])], in reading order."
    import yaml
    parts = []
    for item in yaml.safe_load((nbs / 'sidebar.yml').read_text())['website']['sidebar']['contents']:
        if isinstance(item, str): parts.append((None, [item]))
        else: parts.append((item['section'], list(item['contents'])))
    return parts


def front_matter(nb):
    "Title, description and output file from the raw cell that `nbdev-proc-nbs` puts first."
    import yaml
    for c in nb.cells:
        if c.cell_type == 'raw' and c.source.strip().startswith('---'):
            return yaml.safe_load(c.source.strip().strip('-')) or {}
    return {}


def options(src):
    "A code cell's Quarto options (`#| name: value`) and its source without them."
    opts, lines = {}, []
    for l in src.split('\n'):
        m = _OPT.match(l)
        if m: opts[m.group(1)] = m.group(2)
        elif not l.startswith('#|'): lines.append(l)
    return opts, '\n'.join(lines).strip('\n')


def quarto_cells(nb):
    "Apply the Quarto options the book uses, so that nbconvert shows what Quarto would."
    fm, cells = front_matter(nb), []
    title = f"# {fm.get('title', '')}\n\n> {fm.get('description', '')}" if fm else None
    if title: cells.append(nbformat.v4.new_markdown_cell(title))
    for c in nb.cells:
        c.metadata.pop('execution', None)   # timings written by the docs processing; not valid nbformat
        if c.cell_type == 'raw': continue
        if c.cell_type == 'markdown':
            if c.source.startswith('<!-- WARNING'): continue
            cells.append(c); continue
        opts, src = options(c.source)
        if opts.get('include') == 'false': continue
        c.source = src
        if opts.get('output') == 'false': c.outputs = []
        for o in c.outputs:   # `[source](url){target="_blank"}`: a Pandoc link attribute that only Quarto reads
            md = o.get('data', {}).get('text/markdown')
            if md: o['data']['text/markdown'] = re.sub(r'(\]\([^)]*\))\{[^}]*\}', r'\1', md)
        hide_source = opts.get('echo') == 'false'
        if not hide_source and opts.get('code-fold') == 'true':
            code = html.escape(src)
            cells.append(nbformat.v4.new_markdown_cell(
                f'<details class="code-fold"><summary>Code</summary><pre><code class="language-python">{code}'
                '</code></pre></details>'))
            hide_source = True
        if hide_source:
            if not c.outputs: continue
            c.metadata['transient'] = {'remove_source': True}   # what nbconvert's templates read to drop the input
        cells.append(c)
    nb.cells = cells
    return nb, fm


STYLE = """<style>
.dl2-nav{font:14px sans-serif;padding:.6em 1em;border-bottom:1px solid #ddd;background:#f7f7fa}
.dl2-nav a{margin-right:1.2em}
details.code-fold{margin:.4em 0 .4em 0}
details.code-fold summary{cursor:pointer;color:#555;font:13px sans-serif}
</style>"""


def nav(prev, nxt):
    links = ['<a href="contents.html">Contents</a>']
    if prev: links.append(f'<a href="{prev[0]}">&larr; {html.escape(prev[1])}</a>')
    if nxt: links.append(f'<a href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>')
    return f'<div class="dl2-nav">{"".join(links)}</div>'


def fix_links(body, pages):
    "Links between chapters point at their pages; heading ids follow Quarto's (lower case)."
    def link(m):
        name, anchor = m.group(1), m.group(2) or ''
        page = pages[name][0] if name in pages else nbpath2html(Path(name)).name   # not built: nbdev's name
        return f'href="{page}{anchor.lower()}"'
    body = re.sub(r'href="([\w.-]+\.ipynb)(#[^"]*)?"', link, body)
    return re.sub(r'(<h[1-6] id=")([^"]+)(")', lambda m: m.group(1) + m.group(2).lower() + m.group(3), body)


def process(file_re=''):
    "What `nbdev-proc-nbs` does, without its attempt to download and install Quarto: notebooks into `_proc/`."
    from nbdev.serve import proc_nbs
    proc_nbs(str(ROOT / 'nbs'), n_workers=2, file_re=file_re)


def build(names, proc=ROOT / '_proc', out=ROOT / 'docs'):
    "Render the processed notebooks `names` (in order) into `out`, with a contents page; returns the pages."
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    nbs = {n: nbformat.read(proc / n, as_version=4) for n in names}
    pages = {}
    for n, nb in nbs.items():
        fm = front_matter(nb)
        pages[n] = (fm.get('output-file') or Path(n).with_suffix('.html').name, fm.get('title', n), fm.get('description', ''))
    order = list(names)
    for i, n in enumerate(order):
        nb, _ = quarto_cells(nbs[n])
        body, _ = exporter.from_notebook_node(nb, resources={'metadata': {'name': pages[n][1]}})
        body = fix_links(body, pages)
        prev = pages[order[i - 1]][:2] if i else None
        nxt = pages[order[i + 1]][:2] if i + 1 < len(order) else None
        body = body.replace('<body', STYLE + '<body', 1)
        body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav(prev, nxt), body, count=1)
        (out / pages[n][0]).write_text(body)
    return pages


def contents(parts, pages, out=ROOT / 'docs'):
    "The contents page: the book's parts, each chapter with its one-line summary."
    rows = ['<h1>dl2: contents</h1>']
    for part, names in parts:
        if part: rows.append(f'<h2>{html.escape(part)}</h2>')
        rows.append('<ul>')
        for n in names:
            if n not in pages: continue
            f, title, desc = pages[n]
            rows.append(f'<li><a href="{f}">{html.escape(title)}</a>: {html.escape(desc)}</li>')
        rows.append('</ul>')
    page = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>dl2: contents</title>{STYLE}</head>' \
           f'<body style="font-family:sans-serif;max-width:50em;margin:auto">{"".join(rows)}</body></html>'
    (out / 'contents.html').write_text(page)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--no-proc', action='store_true', help='use _proc/ as it is instead of running nbdev-proc-nbs')
    p.add_argument('--file-re', default='', help='only these notebooks (a regex on the file name)')
    p.add_argument('--out', type=Path, default=ROOT / 'docs')
    a = p.parse_args(argv)
    if not a.no_proc: process(a.file_re)
    parts = sidebar(ROOT / 'nbs')
    names = [n for _, ns in parts for n in ns if re.search(a.file_re, n) and (ROOT / '_proc' / n).exists()]
    pages = build(names, out=a.out)
    contents(parts, pages, a.out)
    print(f"make docs: Quarto is not installed; wrote a preview of {len(pages)} pages to {a.out}/ "
          f"(open {a.out / 'contents.html'})")


if __name__ == '__main__': main()
