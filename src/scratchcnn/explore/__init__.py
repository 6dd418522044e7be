"""``scratchcnn explore``: a local web page to draw a digit and watch it go through a
network, layer by layer, down to the multiply-add behind any pixel of a feature map.

- :mod:`.trace`: the numbers (every layer's output for one image; one pixel explained
  with :mod:`scratchcnn.textbook`'s windows), plain NumPy;
- :mod:`.server`: the standard library's HTTP server on 127.0.0.1, serving the page in
  ``page/`` (HTML, CSS and JavaScript, nothing fetched from elsewhere) and a JSON API;
- :mod:`.upload`: an uploaded image file as the model's input, with size limits;
- :mod:`.quick`: the default model, LeNet-5 trained for a few seconds on the bundled
  MNIST sample and kept in the user's cache.

Not imported by ``import scratchcnn``; the command line imports it when it runs.
"""

from .quick import default_model, default_model_path, quick_model
from .server import DEFAULT_PORT, ExploreServer, make_server
from .trace import explain, layer_outputs

__all__ = ["make_server", "ExploreServer", "DEFAULT_PORT", "default_model",
           "default_model_path", "quick_model", "explain", "layer_outputs"]
