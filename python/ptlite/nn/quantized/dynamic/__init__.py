"""ptlite.nn.quantized.dynamic: dynamically quantized modules (int8 or float16 weights,
activations quantized at run time), torch.ao.nn.quantized.dynamic's names."""
from .linear import Linear
from .rnn import GRU, LSTM, GRUCell, LSTMCell, RNNCell

__all__ = ["Linear", "LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell"]
