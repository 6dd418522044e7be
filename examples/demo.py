"""The seed notebook's examples, done right: run with ``python examples/demo.py``."""

import numpy as np

import scratchcnn as sc

# A 2-filter 3x3 convolution over the 8x8 image 0..63, weights 0..17, bias 1
conv = sc.Conv2d(in_channels=1, out_channels=2, kernel_size=3).astype(np.float64)
conv.params["weight"] = np.arange(18, dtype=np.float64).reshape(2, 1, 3, 3)
conv.params["bias"] = np.ones(2)
image = np.arange(64, dtype=np.float64).reshape(1, 8, 8)  # (C, H, W), unbatched
out = conv.forward(image)
print("conv output", out.shape, "first row of filter 0:", out[0, 0])

# Max pooling 2x2 and its gradient
x = np.arange(128, dtype=np.float64).reshape(2, 8, 8)
pool = sc.MaxPool2d(2)
y = pool.forward(x)
print("max-pool output of channel 0:\n", y[0])
print("gradient lands on each window's maximum:\n", pool.backward(y)[0, :4, :4])

# The notebook's output-size questions, with correct parameter counts
for size, channels, filters, stride in [(144, 3, 6, 1), (60, 24, 48, 1), (20, 10, 20, 2)]:
    layer = sc.Conv2d(channels, filters, 3, stride=stride)
    c, h, w = layer.output_shape((channels, size, size))
    print(f"{size}x{size}x{channels}, {filters} filters 3x3, stride {stride} -> "
          f"{h}x{w}x{c}, {sc.count_params(layer):,} parameters")
