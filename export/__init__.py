"""ONNX export, INT8 quantisation and PyTorch parity checks of the comment models."""
