"""Op families: each module wraps the C ops of one kernel family.

Each family module defines
  TORCH_FUNCTIONS  names exported as ``ptlite.<name>``
  FUNCTIONAL       names exported as ``ptlite.nn.functional.<name>``
  TENSOR_METHODS   {method name: function} installed on ``ptlite.Tensor``
"""
