"ONNX export: every layer type and the book's networks against predict, with ONNX Runtime; errors leave nothing."
import os, stat, subprocess, sys
import numpy as np, pytest
import dl2
from dl2.core import ActivationFn, Layer, ACTIVATIONS
from dl2.export import to_onnx, transpose_pads
from dl2.graph import residual_block
from dl2.lenet import build

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

def seq(shape, *layers): return dl2.Sequential([dl2.Input(shape), *layers])

def ort_outputs(path_or_model, xs):
    "ONNX Runtime's outputs for the inputs xs (a list), from a file or from a model's export."
    src = str(path_or_model) if isinstance(path_or_model, (str, os.PathLike)) else \
        to_onnx(path_or_model).SerializeToString()
    sess = ort.InferenceSession(src, providers=['CPUExecutionProvider'])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})

def assert_matches(model, shapes, sizes=(1, 2, 5), seed=0, dtype=np.float32):
    "ORT on the exported model equals predict to 1e-5 of the largest output, for batches of several sizes."
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    rng = np.random.default_rng(seed)
    for n in sizes:
        xs = [rng.standard_normal((n, *s)).astype(dtype) for s in shapes]
        got = ort_outputs(model, xs)
        ref = model.predict(xs if len(xs) > 1 else xs[0])
        ref = ref if isinstance(ref, list) else [ref]
        assert len(got) == len(ref)
        for a, b in zip(got, ref):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max(), (model.name, n, np.abs(a - b).max())

KS = [(3, 1), (3, 2), (5, 2), (2, 3), (4, 2), (1, 1), (5, 3)]

def randomize_bn(bn, seed=1):
    rng = np.random.default_rng(seed)
    for w in bn.weights: w[:] = rng.uniform(0.5, 2, w.shape)
    return bn

LAYER_CASES = {
    **{f'dense-{a}': lambda a=a: seq((5,), dl2.Dense(4, activation=a)) for a in ACTIVATIONS},
    'dense-nobias': lambda: seq((5,), dl2.Dense(4, use_bias=False)),
    **{f'conv-{k}-{s}-{p}': lambda k=k, s=s, p=p: seq((9, 10, 3), dl2.Conv2D(4, k, strides=s, padding=p,
                                                                          activation='relu'))
       for k, s in KS for p in ('valid', 'same')},
    **{f'convT-{k}-{s}-{p}': lambda k=k, s=s, p=p: seq((5, 6, 3), dl2.Conv2DTranspose(4, k, strides=s, padding=p))
       for k, s in KS for p in ('valid', 'same')},
    **{f'{P.__name__}-{k}-{s}-{p}': lambda P=P, k=k, s=s, p=p: seq((9, 10, 3), P(k, s, padding=p))
       for P in (dl2.MaxPooling2D, dl2.AveragePooling2D) for k, s in ((2, None), (3, 2), (3, 1), (2, 3))
       for p in ('valid', 'same')},
    'gap': lambda: seq((4, 5, 3), dl2.GlobalAveragePooling2D()),
    'gmp': lambda: seq((4, 5, 3), dl2.GlobalMaxPooling2D()),
    'upsampling': lambda: seq((4, 5, 3), dl2.UpSampling2D((2, 3))),
    'batchnorm-image': lambda: seq((6, 6, 3), randomize_bn(dl2.BatchNormalization())),
    'batchnorm-features': lambda: seq((5,), randomize_bn(dl2.BatchNormalization(center=False))),
    'batchnorm-noscale': lambda: seq((5,), randomize_bn(dl2.BatchNormalization(scale=False))),
    'relu': lambda: seq((5,), dl2.ReLU()),
    'relu6': lambda: seq((5,), dl2.ReLU(max_value=0.5)),
    'relu-general': lambda: seq((5,), dl2.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.3)),
    'relu-slope': lambda: seq((5,), dl2.ReLU(negative_slope=0.2)),
    'leakyrelu': lambda: seq((5,), dl2.LeakyReLU(0.1)),
    'softmax': lambda: seq((5,), dl2.Softmax()),
    **{f'activation-{a}': lambda a=a: seq((5,), dl2.Activation(a)) for a in ACTIVATIONS},
    'rescaling': lambda: seq((5,), dl2.Rescaling(1 / 9)),
    'rescaling-offset': lambda: seq((5,), dl2.Rescaling(2.0, offset=-0.5)),
    'dropout-augment-flatten-reshape': lambda: seq((4, 4, 3), dl2.Dropout(0.5), dl2.RandomFlip(),
                                                   dl2.RandomTranslation(), dl2.Flatten(), dl2.Reshape((8, -1)),
                                                   dl2.Reshape((2, 4, 6))),
}

@pytest.mark.parametrize('case', sorted(LAYER_CASES))
def test_every_layer_matches_predict(case):
    dl2.set_seed(0)
    m = LAYER_CASES[case]()
    assert_matches(m, [m.input_shape[1:]])

@pytest.mark.parametrize('merge', ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Concatenate'])
def test_merge_layers_with_broadcasting(merge):
    dl2.set_seed(0)
    x, y = dl2.Input((4, 4, 3)), dl2.Input((4, 4, 3))
    a, b = dl2.Conv2D(3, 1)(x), dl2.Conv2D(1, 1)(y)  # (.., 3) with (.., 1): broadcast along the channels
    layer = getattr(dl2, merge)
    outs = [layer()([a, b])] if merge != 'Concatenate' else [layer()([a, b]), layer(axis=1)([a, x])]
    if merge in ('Add', 'Multiply', 'Average', 'Maximum'): outs.append(layer()([a, b, a]))
    assert_matches(dl2.Model([x, y], outs), [(4, 4, 3), (4, 4, 3)])

def test_lenet5_dcgan_generator_and_a_residual_network():
    dl2.set_seed(0)
    assert_matches(build('lenet5', (32, 32, 3), 10, True, 0), [(32, 32, 3)], sizes=(1, 4, 64))
    assert_matches(dl2.dcgan_mnist(seed=0).generator, [(64,)], sizes=(1, 3, 64))
    z = dl2.Input((8, 8, 3))
    h = residual_block(residual_block(dl2.Conv2D(8, 3, padding='same')(z), 8), 16, strides=2)
    net = dl2.Model(z, dl2.Sequential([dl2.GlobalAveragePooling2D(), dl2.Dense(10)])(h))
    X, Y = np.random.default_rng(0).random((64, 8, 8, 3), np.float32), np.arange(64) % 10
    net.compile('adam', dl2.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(X, Y, epochs=2, verbose=0)  # moving statistics away from their initial values
    assert_matches(net, [(8, 8, 3)])

def test_airbench_network_after_training():
    # what `make airbench` exports: GELU, batch norms without scale, Rescaling, the frozen whitening layer
    x = np.random.default_rng(0).integers(0, 256, (128, 32, 32, 3), dtype=np.uint8)
    run = dl2.train_airbench(x, np.arange(128) % 10, epochs=1, batch_size=64, widths=(8, 8, 8), verbose=0)
    assert_matches(run.model, [(32, 32, 3)], sizes=(1, 3))

def test_functional_names_shared_layers_unknown_sizes_and_float64():
    dl2.set_seed(0)
    shared = dl2.Dense(3, activation='tanh')
    p, q = dl2.Input((4,)), dl2.Input((4,))
    m = dl2.Model([p, q], [dl2.Dense(2, name='score')(dl2.Subtract()([shared(p), shared(q)])), shared(p)])
    proto = to_onnx(m)
    assert [i.name for i in proto.graph.input] == [t.name for t in m._inputs]
    assert [o.name for o in proto.graph.output] == m.output_names
    assert_matches(m, [(4,), (4,)])
    fcn = seq((None, None, 3), dl2.Conv2D(4, 3, strides=2, padding='same'), dl2.MaxPooling2D(3, 2, padding='same'),
              dl2.Conv2DTranspose(2, 4, strides=2, padding='same'), dl2.AveragePooling2D(2, padding='same'))
    for hw in ((9, 10), (16, 7), (1, 1)): assert_matches(fcn, [(*hw, 3)])
    with dl2.using_floatx('float64'):
        mlp = seq((5,), dl2.Dense(8, activation='relu'), dl2.BatchNormalization(), dl2.Dense(3, activation='softmax'))
    assert to_onnx(mlp).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert_matches(mlp, [(5,)], dtype=np.float64)

def test_relu_at_its_threshold_and_max_value():
    m = seq((6,), dl2.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5))
    x = np.array([[0.5, 1.0, -2.0, 0.75, 0.4999, 3.0]], np.float32)  # on the threshold and on max_value
    assert np.array_equal(ort_outputs(m, [x])[0], m.predict(x))
    for l in (dl2.ReLU(threshold=0.5), dl2.ReLU(negative_slope=0.2, threshold=0.25)):
        m = seq((3,), l)
        x = np.array([[0.5, 0.25, 0.0]], np.float32)
        assert np.array_equal(ort_outputs(m, [x])[0], m.predict(x))

def test_opset_other_than_17_is_refused_and_shared_weights_are_stored_once(tmp_path):
    shared = dl2.Dense(3)
    p, q = dl2.Input((4,)), dl2.Input((4,))
    m = dl2.Model([p, q], dl2.Add()([shared(p), shared(q)]))
    with pytest.raises(ValueError, match="opset_version must be 17"): m.export(tmp_path / 'm.onnx', opset_version=18)
    assert os.listdir(tmp_path) == []
    assert [w.name for w in to_onnx(m).graph.initializer] == [f'{shared.name}/kernel', f'{shared.name}/bias']
    assert_matches(m, [(4,), (4,)])

def test_every_registered_layer_has_a_converter():
    from dl2.core import LAYERS
    from dl2.export import CONVERTERS
    assert set(LAYERS) - {c.__name__ for c in CONVERTERS} == {'Sequential', 'Model'}  # (converted call by call)

def test_transpose_pads_give_keras_sizes():
    for k in range(1, 7):
        for s in range(1, 5):
            for padding in ('valid', 'same'):
                begin, end, extra = transpose_pads(k, s, padding)
                assert 0 <= extra < s and begin >= 0 and end >= 0
                for n in (1, 4, 7):
                    want = n * s + (max(k - s, 0) if padding == 'valid' else 0)
                    assert s * (n - 1) + k + extra - begin - end == want

def test_refusals_write_nothing(tmp_path):
    class Square(Layer):
        def forward(self, x, training=False): return x * x
    cube = ActivationFn('cube', lambda z: z ** 3, lambda a, da: 3 * np.cbrt(a) ** 2 * da)
    bad = [(seq((3,), dl2.Dense(2), Square(name='sq')), "Layer 'sq' \\(Square\\) has no ONNX mapping"),
           (seq((3,), dl2.Dense(2, activation=cube, name='d')), "Layer 'd': activation .* has no ONNX mapping"),
           (dl2.Sequential([dl2.Dense(2)]), "is not built")]
    for model, match in bad:
        with pytest.raises(ValueError, match=match): model.export(tmp_path / 'm.onnx')
    good = seq((3,), dl2.Dense(2))
    with pytest.raises(ValueError, match="format must be 'onnx'"): good.export(tmp_path / 'm.onnx', format='tf')
    with pytest.raises(FileNotFoundError, match="does not exist"): good.export(tmp_path / 'no' / 'm.onnx')
    (tmp_path / 'a_folder').mkdir()
    with pytest.raises(OSError): good.export(tmp_path / 'a_folder')  # a path that cannot become a file
    assert os.listdir(tmp_path) == ['a_folder'] and os.listdir(tmp_path / 'a_folder') == []
    (tmp_path / 'a_folder').rmdir()
    (tmp_path / 'm.onnx').write_bytes(b'old')
    with pytest.raises(ValueError): bad[0][0].export(tmp_path / 'm.onnx')
    assert (tmp_path / 'm.onnx').read_bytes() == b'old'  # a failed export leaves an existing file alone
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / 'ro'
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(PermissionError): good.export(ro / 'm.onnx')
        assert os.listdir(ro) == []
    good.export(tmp_path / 'm.onnx')
    assert sorted(os.listdir(tmp_path)) == ['m.onnx']
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / 'm.onnx').st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    x = np.ones((2, 3), np.float32)
    assert np.allclose(ort_outputs(tmp_path / 'm.onnx', [x])[0], good.predict(x), rtol=1e-6)

def test_import_dl2_does_not_import_onnx():
    code = "import sys, dl2; assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules"
    subprocess.run([sys.executable, '-c', code], check=True)

def test_dl2_train_export_onnx(tmp_path, capsys):
    from dl2.data import write_tiny_cifar10
    from dl2.lenet import main
    write_tiny_cifar10(tmp_path / 'data', n=32)
    out = tmp_path / 'run'
    assert main(['--epochs', '1', '--val-size', '32', '--out', str(out), '--data-dir', str(tmp_path / 'data'),
                 '--export-onnx']) == 0
    assert 'model.onnx' in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['history.png', 'metrics.json', 'model.npz', 'model.onnx']
    m = dl2.load_model(out / 'model.npz')
    x = np.random.default_rng(0).random((5, 32, 32, 3), np.float32)
    got = ort_outputs(out / 'model.onnx', [x])[0]
    assert np.abs(got - m.predict(x)).max() <= 1e-5 * np.abs(m.predict(x)).max()

def test_without_onnx_the_errors_say_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'onnx', None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'dl2\[onnx\]'"): seq((3,), dl2.Dense(2)).export(tmp_path / 'm.onnx')
    from dl2.data import write_tiny_cifar10
    from dl2.lenet import main
    write_tiny_cifar10(tmp_path / 'data', n=32)
    with pytest.raises(SystemExit) as e:
        main(['--epochs', '1', '--out', str(tmp_path / 'run'), '--data-dir', str(tmp_path / 'data'), '--export-onnx'])
    assert e.value.code == 1 and "pip install 'dl2[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()  # refused before training
