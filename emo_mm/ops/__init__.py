"""Native CPU kernels for what PyTorch's own CPU kernels do slowly; each with the PyTorch
path as its fallback (:func:`native_kernels_available` tells which one runs)."""
from .depthwise import depthwise_conv2d, depthwise_weight_grad, uses_native_weight_grad
from .native import NativeKernelError, native_kernels_available

__all__ = ['NativeKernelError', 'depthwise_conv2d', 'depthwise_weight_grad',
           'native_kernels_available', 'uses_native_weight_grad']
