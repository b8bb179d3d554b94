"""The exported package as a reader of its source meets it: the public API gathered, no dead imports, short lines."""
import ast, importlib, pkgutil, re, subprocess, sys
from pathlib import Path
import pytest
import dl2

PKG = Path(dl2.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PKG)]) if not m.name.startswith('_'))
SOURCES = sorted(p for p in PKG.glob('*.py') if p.name != '_modidx.py')

# Public names that stay in their module (`dl2.conv.im2col_kernel`), deliberately not at the top level: kernels,
# the naive oracles, constants, registries' plumbing, the benchmark and plotting tools. Everything else in a module's
# `__all__` must be importable as `dl2.<name>`, so that a new public name cannot be forgotten in `dl2/__init__.py`.
MODULE_ONLY = {
    'core': {'compute_fans', 'glorot_uniform', 'glorot_normal', 'he_normal', 'he_uniform', 'zeros', 'ones', 'identity',
             'sigmoid', 'softmax', 'softmax_backward', 'gelu', 'gelu_backward', 'gelu_reference', 'gelu_backward_reference', 'ActivationFn', 'leaky_relu_fn', 'snake_case', 'shape_str',
             'single_threaded_blas', 'n_chunks',
             # the argument checks every chapter shares (dl2.core.check_int, ...): tools for chapters, not the user's API
             'describe', 'is_int', 'check_int', 'check_positive_int', 'check_bool', 'check_number',
             'check_positive_number', 'check_nonneg_number', 'check_padding', 'check_initializer', 'check_activation',
             'activation_name', 'check_array', 'check_shape'},
    'losses': {'Loss', 'logsumexp', 'get', 'serialize', 'deserialize'},
    'optim': {'sgd_update', 'rmsprop_update', 'adagrad_update', 'adam_update', 'get', 'serialize', 'deserialize',
              'schedules'},   # Keras' namespace: dl2.optimizers.schedules.CosineDecay
    'model': {'accuracy_fn', 'ProgressBar', 'CallbackList', 'Metric', 'MeanAbsoluteError', 'MeanSquaredError',
              'CategoricalAccuracy', 'SparseCategoricalAccuracy', 'BinaryAccuracy', 'TopKCategoricalAccuracy',
              'SparseTopKCategoricalAccuracy', 'get_metric', 'walk_layers', 'layer_from_config',   # dl2.metrics.X
              'compile_loss', 'warn_softmax', 'loss_and_metrics', 'metric_spec', 'DEFAULT_METRICS', 'atomic_write'},
    'graph': {'Node', 'as_tensor', 'is_symbolic', 'compatible', 'call_symbolic', 'broadcast_shapes', 'unbroadcast',
              'Merge', 'nodes_between', 'keep_state', 'model_from_config', 'residual_block', 'per_output'},
    'conv': {'to_pair', 'conv_output_shape', 'pad_input', 'use_direct', 'winograd_tile', 'conv_algorithm',
             'cols_buffer', 'samples_per_block', 'conv2d_backward_input', 'winograd_kernel_grad'},
    'conv_transpose': {'conv_transpose_output_shape'},
    'export': {'OPSET', 'TO_NCHW', 'TO_NHWC', 'MERGE_OPS', 'CONVERTERS', 'require_onnx', 'OnnxGraph', 'channels_first',
               'activation', 'convert_dense', 'pad_attrs', 'convert_conv', 'convert_pool', 'convert_global_pool',
               'transpose_pads', 'convert_conv_transpose', 'convert_batchnorm', 'convert_relu', 'convert_leaky_relu',
               'convert_softmax', 'convert_activation', 'convert_identity', 'convert_flatten', 'convert_reshape',
               'convert_rescaling', 'convert_upsampling', 'convert_merge', 'convert_layer', 'convert_model', 'to_onnx', 'layer_weights'},
    'sampling': {'pool_params'},
    'batchnorm': {'batchnorm_backward_staged', 'batchnorm_backward_closed', 'batchnorm_inference'},
    'data': {'resolve_data_dir', 'cache_dir', 'DatasetError', 'read_idx', 'write_idx', 'download',
             'read_cifar_batch', 'write_tiny_mnist', 'write_tiny_cifar10'},
    'lenet': {'cosine_schedule', 'load_dataset', 'build', 'train', 'main', 'flip_images', 'write_run'},
    'airbench': {'channel_stats', 'standardize', 'dirac_first', 'sgd_arguments', 'airbench_optimizer',
                 'use_slow_weights', 'main', 'torch_airbench_net', 'torch_airbench'},   # the twin: a benchmark
    'gan': {'dcgan_mnist'},
}
WHOLE_MODULE = {'bench', 'viz'}   # tools used as `dl2.bench.main()`, `dl2.viz.plot_history(...)`

def _module_only(mod, name):
    return (mod in WHOLE_MODULE or name in MODULE_ONLY.get(mod, ()) or name.isupper()
            or name.endswith(('_kernel', '_naive')))

@pytest.mark.parametrize('mod', MODULES)
def test_public_names_gathered(mod):
    m = importlib.import_module(f'dl2.{mod}')
    forgotten = [n for n in m.__all__ if not _module_only(mod, n) and getattr(dl2, n, None) is not getattr(m, n)]
    assert not forgotten, f"dl2.{mod} exports {forgotten}, missing from dl2/__init__.py (or list them in MODULE_ONLY)"

def test_top_level_names_exist_once():
    "No two modules export one name to the top level (a later import would hide the first)."
    seen = {}
    for mod in MODULES:
        for n in importlib.import_module(f'dl2.{mod}').__all__:
            if _module_only(mod, n): continue
            assert n not in seen, f"{n} is exported by both dl2.{seen[n]} and dl2.{mod}"
            seen[n] = mod

def test_no_unused_imports():
    pyflakes = pytest.importorskip('pyflakes.api')
    from pyflakes.reporter import Reporter
    import io
    out = io.StringIO()
    for p in SOURCES:
        if p.name == '__init__.py': continue
        pyflakes.check(p.read_text(), str(p.relative_to(PKG.parent)), Reporter(out, out))
    problems = [l for l in out.getvalue().splitlines() if 'imported but unused' in l or 'undefined name' in l]
    assert not problems, '\n'.join(problems)

def test_package_does_not_import_itself():
    "A module imports its siblings (`from .core import ...`); code in strings (a subprocess's script) may import dl2."
    def imports_dl2(node):
        if isinstance(node, ast.Import): return any(a.name.split('.')[0] == 'dl2' for a in node.names)
        return isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').split('.')[0] == 'dl2'
    bad = [f"{p.name}:{n.lineno}" for p in SOURCES for n in ast.walk(ast.parse(p.read_text())) if imports_dl2(n)]
    assert not bad, f"modules of dl2 import dl2 (import the sibling module instead): {bad}"

def _private_imports(source):
    """The private names that `source` (a module of dl2) takes from a sibling module: `from .conv import _checked`, or
    `conv._checked` on a sibling imported whole. A sibling imported whole under a private alias (`from . import losses
    as _losses`) is not one: the module is public, only the local name is private."""
    tree = ast.parse(source)
    def sibling(node): return isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or '').startswith('dl2'))
    whole = {a.asname or a.name for n in ast.walk(tree) if sibling(n) and n.module in (None, 'dl2') for a in n.names}
    names = [a.name for n in ast.walk(tree) if sibling(n) and n.module not in (None, 'dl2') for a in n.names]
    attrs = [f"{n.value.id}.{n.attr}" for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in whole]
    return [n for n in names if n.startswith('_')] + [a for a in attrs if a.split('.')[1].startswith('_')]

def test_private_imports_rule():
    assert _private_imports("from .conv import to_pair, _checked\nfrom .core import (Layer,\n _is_int)") == ['_checked', '_is_int']
    assert _private_imports("from dl2.conv import _checked") == ['_checked']
    assert _private_imports("from . import losses as _losses, optim\n_losses.get('mse'); optim._private(1)") == ['optim._private']
    assert _private_imports("from . import losses as _losses\nfrom .core import Layer\nx = _losses.get\n_y = 1") == []
    assert _private_imports("from numpy import _globals\nimport dl2") == []

@pytest.mark.parametrize('path', SOURCES, ids=lambda p: p.name)
def test_no_private_names_across_modules(path):
    "Issue 11: a helper that several chapters use gets a public name in the chapter that owns it, never a `_private` import."
    bad = _private_imports(path.read_text())
    assert not bad, f"{path.name} uses private names of other dl2 modules: {bad}; give them public names where they are defined"

def _written_lines(path):
    "The lines a chapter's author wrote: without nbdev's module docstring, `__all__` list and cell markers."
    lines, in_all = path.read_text().splitlines(), False
    for i, l in enumerate(lines, 1):
        in_all = l.startswith('__all__') or (in_all and not l.startswith(('#', 'import', 'from')) and l != '')
        if i == 1 or in_all or l.startswith('# %%'): continue
        yield i, l

@pytest.mark.parametrize('path', SOURCES, ids=lambda p: p.name)
def test_lines_fit_on_a_page(path):
    long = [i for i, l in _written_lines(path) if len(l) > 110]
    assert not long, f"{path.name}: lines {long[:10]}{'...' if len(long) > 10 else ''} are longer than 110 characters"
