"""Comment understanding models: data, training (torch), evaluation, and ONNX serving (no torch)."""
