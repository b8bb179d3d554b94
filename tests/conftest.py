import os, numpy as np, pytest
import dl2

@pytest.fixture
def rng(): return np.random.default_rng(0)

@pytest.fixture
def f64():
    with dl2.using_floatx('float64'): yield

def digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y

@pytest.fixture(autouse=True)
def _seed():
    "Every test starts from the same weights: a gradient check near a ReLU kink must not depend on luck."
    dl2.set_seed(0)

os.environ['DL2_OFFLINE'] = '1'   # tests never touch the network: a missing dataset is an error, not a download
