"""A small, fast neural-network library in NumPy and Numba, built chapter by chapter"""

__version__ = "0.1.0"

# The one hand-kept file in dl2/: nbdev manages only the docstring and version above.
# It gathers the public API of every chapter's module at the top level (`dl2.Dense`, `dl2.Adam`, ...).
from .core import (Layer, set_floatx, floatx, using_floatx, set_seed, get_rng, grad_check, check_layer,
                   rel_error, numerical_grad, get_activation, get_initializer, register_layer, LoadWatch,
                   reuse_freed_memory)
from .dense import (Dense, Activation, ReLU, LeakyReLU, Softmax, Flatten, Reshape, Rescaling,
                    dense_forward, dense_backward, relu_forward, relu_backward)
from . import losses
from .losses import (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
                     SparseCategoricalCrossentropy)
from . import optim
from . import optim as optimizers  # Keras' spelling: dl2.optimizers.Adam, dl2.optimizers.schedules
from .optim import (Optimizer, SGD, Momentum, RMSprop, Adagrad, Adam, AdamW,
                    LearningRateSchedule, ExponentialDecay, CosineDecay, PiecewiseConstantDecay,
                    PiecewiseLinearDecay)
from .model import (Input, Sequential, load_model, clone_model, models, metrics, History, Callback,
                    EarlyStopping, ModelCheckpoint, TerminateOnNaN, LearningRateScheduler, lr_find,
                    suggest_lr, plot_lr_find)
from .conv import Conv2D, conv2d_forward, conv2d_backward, patch_whitening_kernel
from .conv_transpose import Conv2DTranspose, conv_transpose2d_forward, conv_transpose2d_backward
from .sampling import (MaxPooling2D, AveragePooling2D, MaxPool2D, AvgPool2D, UpSampling2D,
                       GlobalAveragePooling2D, GlobalMaxPooling2D, maxpool2d_forward, maxpool2d_backward,
                       avgpool2d_forward, avgpool2d_backward, upsample2d_forward, upsample2d_backward)
from .batchnorm import BatchNormalization, Dropout, batchnorm_forward, batchnorm_backward
from .graph import (Model, KerasTensor, Add, Subtract, Multiply, Average, Maximum, Concatenate)
from .data import load_mnist, load_cifar10, to_categorical, batches
from .lenet import LeNet5, RandomFlip, RandomTranslation, alternating_flip, reflect_translate, tta_predict
from .gan import GAN, SampleGrid, dcgan_mnist, classifier_score
from .airbench import airbench_model, train_airbench, evaluate_airbench, LookaheadSchedule
from . import export  # adds Sequential.export (and Model.export); onnx is imported only when it runs
