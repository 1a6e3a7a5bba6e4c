"""ptlite.nn.quantized.dynamic: dynamically quantized modules (int8 or float16 weights,
activations quantized at run time), torch.ao.nn.quantized.dynamic's names."""
