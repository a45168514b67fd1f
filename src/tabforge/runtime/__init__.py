"""Loading a stored artifact into onnxruntime. Only ONNX + JSON are read: never pickle."""
